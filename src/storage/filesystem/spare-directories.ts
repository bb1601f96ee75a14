/**
 * Spare directories: an upload session's directory, emptied down to its one small file when the upload
 * becomes a blob, is kept in `pier/spare/` and renamed into place for the next session, instead of being
 * deleted and another one made.
 *
 * Why: creating an inode is the most expensive file operation of a small push. On ext4 without a journal
 * it costs hundreds of microseconds of CPU, because the allocator skips every inode freed in the last
 * minutes (it checks each one's deletion time), so every deleted file makes the next creations dearer.
 * A session costs two inodes (its directory and `startedat`) and two deletions; a reused one costs none.
 *
 * Safety: a spare is private until it is renamed into place, and its file is rewritten BEFORE that rename,
 * so a session appears whole (as with a temporary file and rename). Only directories holding exactly the
 * expected file are kept; anything else is deleted as before. Any process may take any spare: a rename
 * is atomic, so two takers cannot get the same one (the loser sees ENOENT and tries another). Spares hold
 * nothing anyone needs: a crash may leave some behind, which the next process takes up (or `rm` does).
 */
import { promises as fs, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Per process; beyond this many, emptied directories are deleted as before. */
const MAX_SPARES = 64;

export class SpareDirectories {
  private readonly spares: string[] = [];
  private adopted = false;

  constructor(
    private readonly stash: string,
    private readonly ensureDirectory: (dir: string) => Promise<boolean>,
  ) {}

  /**
   * Keeps `dir` as a spare when it holds exactly the file `keep` and nothing else; false (nothing done)
   * otherwise, or when enough spares are kept.
   */
  async retire(dir: string, keep: string): Promise<boolean> {
    if (this.spares.length >= MAX_SPARES) return false;
    let entries: string[];
    try {
      entries = await fs.readdir(dir);
    } catch {
      return false;
    }
    if (entries.length !== 1 || entries[0] !== keep) return false;
    const spare = join(this.stash, randomBytes(8).toString('hex'));
    try {
      await fs.rename(dir, spare);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
      // The stash is missing (first use): make it once and retry.
      try {
        await this.ensureDirectory(this.stash);
        await fs.rename(dir, spare);
      } catch {
        return false;
      }
    }
    this.spares.push(spare);
    return true;
  }

  /**
   * Makes `dir` (which must not exist) from a spare, its file `name` rewritten with `content` first.
   * False when no spare was left; the caller then creates the directory itself.
   */
  async revive(dir: string, name: string, content: Uint8Array): Promise<boolean> {
    await this.adoptLeftovers();
    for (let spare = this.spares.pop(); spare !== undefined; spare = this.spares.pop()) {
      try {
        // In place: the spare is private, and its inode is reused (O_TRUNC, no new file).
        await fs.writeFile(join(spare, name), content, { flag: constants.O_WRONLY | constants.O_TRUNC });
      } catch {
        continue; // taken by another process, or not what it should be: try the next
      }
      try {
        await fs.rename(spare, dir);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') continue;
      }
      try {
        await this.ensureDirectory(dirname(dir));
        await fs.rename(spare, dir);
        return true;
      } catch {
        continue;
      }
    }
    return false;
  }

  /** Once per process: spares left by processes that ended are taken up too. */
  private async adoptLeftovers(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    try {
      for (const name of (await fs.readdir(this.stash)).slice(0, MAX_SPARES)) this.spares.push(join(this.stash, name));
    } catch {
      // no stash yet
    }
  }
}
