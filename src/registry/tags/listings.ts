/** Paginated listings: the tags of a repository and the repository catalog, in lexical (byte) order. */
import { RegistryError } from '../errors.ts';
import type { RegistryContext } from '../context.ts';

export interface Page {
  items: string[];
  /** The last item when more may follow: the `last` of the next page. */
  next?: string;
}

export interface PageRequest {
  n?: number;
  last?: string;
}

export class Listings {
  constructor(
    private readonly ctx: RegistryContext,
    private readonly limits: { defaultTags: number; defaultCatalog: number; maxPage: number },
  ) {}

  async tags(repository: string, page: PageRequest): Promise<Page> {
    const n = this.pageSize(page.n, this.limits.defaultTags);
    if (n === 0) {
      if (!(await this.ctx.index.repositoryExists(repository))) throw unknownName(repository);
      return { items: [] };
    }
    const items = await this.ctx.index.listTags(repository, page.last, n + 1);
    if (items === undefined) throw unknownName(repository);
    return paged(items, n);
  }

  async catalog(page: PageRequest): Promise<Page> {
    const n = this.pageSize(page.n, this.limits.defaultCatalog);
    if (n === 0) return { items: [] };
    return paged(await this.ctx.index.listRepositories(page.last, n + 1), n);
  }

  private pageSize(n: number | undefined, fallback: number): number {
    // The spec lets a registry return fewer than n entries (with a Link to the rest): clamp, never refuse.
    return Math.min(n ?? fallback, this.limits.maxPage);
  }
}

function paged(items: string[], n: number): Page {
  if (items.length <= n) return { items };
  const page = items.slice(0, n);
  return { items: page, next: page[page.length - 1]! };
}

function unknownName(repository: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repository });
}
