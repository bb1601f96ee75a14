/** `usage`: bytes used by a repository or namespace, with the quotas that apply (usage-report.ts). */
import { RegistryError } from '../../registry/errors.ts';
import { parseRepositoryName } from '../../registry/model/repository-name.ts';
import { AdminError, json, mayAct, type AdminRequest, type AdminRoute } from './admin-context.ts';
import { NAMESPACE, usageReport } from './usage-report.ts';

async function usage(r: AdminRequest): Promise<void> {
  const { caller, deps, res, query } = r;
  const repository = query.get('repository');
  const namespace = query.get('namespace');
  if ((repository === null) === (namespace === null)) throw new AdminError(400, 'INVALID_REQUEST', 'give exactly one of repository or namespace');
  if (repository !== null) {
    const name = parseRepositoryName(repository);
    const allowed = caller.admin || (caller.caller !== undefined && deps.access !== undefined && mayAct(r, name, 'pull'));
    if (!allowed) throw new RegistryError('DENIED', 'requested access to the resource is denied', [{ Type: 'repository', Class: '', Name: name, Action: 'pull' }]);
    if (!(await deps.index.repositoryExists(name))) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
    return json(res, 200, await usageReport(deps.index, deps.quotas, { repository: name }));
  }
  if (!NAMESPACE.test(namespace!) || namespace!.length > 255) throw new RegistryError('NAME_INVALID', 'invalid namespace: the first component of a repository name', { namespace: namespace!.slice(0, 256) });
  const own = caller.user !== undefined && !caller.apiToken && (!deps.access?.policy.enabled || namespace === caller.user);
  if (!caller.admin && !own) throw new RegistryError('DENIED', 'only admins may see the usage of a namespace other than your own');
  json(res, 200, await usageReport(deps.index, deps.quotas, { namespace: namespace! }));
}

export const routes: AdminRoute[] = [
  {
    id: 'admin-usage',
    path: 'usage',
    pattern: /^usage$/,
    params: [],
    methods: {
      GET: {
        summary: 'Bytes used by one repository or namespace, and the quotas that apply to it.',
        audience: 'user',
        handler: usage,
        query: [
          { name: 'repository', description: 'a repository you may pull', schema: { type: 'string' } },
          { name: 'namespace', description: 'a namespace (your own, or any for admins)', schema: { type: 'string' } },
        ],
        success: { status: 200, description: '{usage, limit, quotas}' },
      },
    },
  },
];
