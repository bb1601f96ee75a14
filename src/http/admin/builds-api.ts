/**
 * The builds resource of the admin API (admins only), JSON under `/pier/api/v1/`:
 *
 * | method | path | what |
 * |---|---|---|
 * | GET, POST | `builds/definitions` | list; create `{id, repository, source, rules, …}` (docs/builds.md) |
 * | GET, PUT, DELETE | `builds/definitions/{id}` | show (secrets never shown), replace, delete |
 * | POST | `builds/definitions/{id}/trigger-token` | a new trigger token (shown once; the old one stops working) |
 * | POST | `builds/definitions/{id}/builds` | build now: `{sourceType, sourceName, commit?, tag?}` → 202 |
 * | POST | `builds/definitions/{id}/context?tag=T` | build an uploaded context (tar or tar.gz body) → 202 |
 * | GET | `builds?repository=R&definition=D&status=S&limit=N` | history, newest first |
 * | GET | `builds/{id}` | one build: status, commit, duration, digest, base digests, error |
 * | POST | `builds/{id}/cancel` | cancel a queued or running build |
 * | GET | `builds/{id}/logs[?follow=1]` | the log as text; `follow` streams it until the build ends |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminError, json, readJson, type AdminResource, type AdminResourceRoute } from './admin-api.ts';
import { buildJson, Builds, BuildsError } from '../../builds/builds.ts';
import { definitionJson, DefinitionError, isDefinitionId } from '../../builds/model/definition.ts';
import { TERMINAL, type BuildStatus } from '../../builds/queue/build-store.ts';
import { isRepositoryName } from '../../registry/model/repository-name.ts';

const BUILD_ID = /^[0-9a-f-]{36}$/;

async function guard(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof BuildsError) throw new AdminError(error.status, error.status === 404 ? 'NOT_FOUND' : error.status === 409 ? 'CONFLICT' : error.status === 401 ? 'UNAUTHORIZED' : 'INVALID_REQUEST', error.message);
    if (error instanceof DefinitionError) throw new AdminError(400, 'INVALID_REQUEST', error.message);
    throw error;
  }
}

export function buildsAdminResource(builds: Builds, triggerUrl: (id: string, token: string) => string): AdminResource {
  const route = (id: string, methods: string[], serve: AdminResourceRoute['serve']): AdminResourceRoute => ({ id, methods, serve: (req, res, query, user) => guard(() => serve(req, res, query, user)) });
  return {
    route(rest) {
      const path = rest.replace(/\/$/, '');
      if (path === 'builds/definitions') {
        return route('admin-build-definitions', ['GET', 'POST'], async (req, res) => {
          if (req.method === 'POST') {
            const d = await builds.define(await readJson(req));
            return json(res, 201, definitionJson(d), { Location: `/pier/api/v1/builds/definitions/${d.id}` });
          }
          json(res, 200, { definitions: (await builds.store.listDefinitions()).map(definitionJson) });
        });
      }
      let m = /^builds\/definitions\/([^/]+)(?:\/(trigger-token|builds|context))?$/.exec(path);
      if (m) {
        const id = m[1]!;
        const sub = m[2];
        if (!isDefinitionId(id)) return route('admin-build-definition', ['GET'], async () => { throw new AdminError(404, 'NOT_FOUND', 'no such build definition'); });
        if (sub === 'trigger-token') {
          return route('admin-build-trigger-token', ['POST'], async (_req, res) => {
            const token = await builds.rotateTriggerToken(id);
            json(res, 201, { token, url: triggerUrl(id, token) });
          });
        }
        if (sub === 'context') {
          return route('admin-build-context', ['POST'], async (req, res, query) => {
            const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
            if (!['application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'].includes(type)) throw new AdminError(400, 'INVALID_REQUEST', 'expected a tar archive: Content-Type application/x-tar or application/gzip');
            const tag = query.get('tag') ?? 'latest';
            if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw new AdminError(400, 'INVALID_REQUEST', 'tag: a valid tag');
            json(res, 202, { builds: [buildJson(await builds.uploadContext(id, req, tag))] });
          });
        }
        if (sub === 'builds') {
          return route('admin-build-start', ['POST'], async (req, res) => {
            const body = await readJson(req);
            const { sourceType, sourceName, commit, tag } = body;
            if (sourceType !== 'Branch' && sourceType !== 'Tag') throw new AdminError(400, 'INVALID_REQUEST', 'sourceType: Branch or Tag');
            if (typeof sourceName !== 'string' || sourceName === '') throw new AdminError(400, 'INVALID_REQUEST', 'sourceName: the branch or tag');
            if (commit !== undefined && (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit))) throw new AdminError(400, 'INVALID_REQUEST', 'commit: a full commit id');
            if (tag !== undefined && (typeof tag !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag))) throw new AdminError(400, 'INVALID_REQUEST', 'tag: a valid tag');
            const started = await builds.start(id, sourceType, sourceName, { ...(commit ? { commit: commit as string } : {}), ...(tag ? { tag: tag as string } : {}) });
            json(res, 202, { builds: started.map(buildJson) });
          });
        }
        return route('admin-build-definition', ['GET', 'PUT', 'DELETE'], async (req, res) => {
          if (req.method === 'PUT') return json(res, 200, definitionJson(await builds.define(await readJson(req).then((b) => ({ ...b, id })), id)));
          if (req.method === 'DELETE') {
            await builds.remove(id);
            res.writeHead(204, { 'Cache-Control': 'no-store' });
            return void res.end();
          }
          json(res, 200, definitionJson(await builds.definition(id)));
        });
      }
      if (path === 'builds') {
        return route('admin-builds', ['GET'], async (_req, res, query) => {
          const repository = query.get('repository') ?? undefined;
          const definitionId = query.get('definition') ?? undefined;
          const status = query.get('status') ?? undefined;
          const limit = Number(query.get('limit') ?? '50');
          if (repository !== undefined && !isRepositoryName(repository)) throw new AdminError(400, 'INVALID_REQUEST', 'repository: a valid repository name');
          if (definitionId !== undefined && !isDefinitionId(definitionId)) throw new AdminError(400, 'INVALID_REQUEST', 'definition: a definition id');
          if (status !== undefined && !['queued', 'running', 'succeeded', 'failed', 'cancelled'].includes(status)) throw new AdminError(400, 'INVALID_REQUEST', 'status: queued, running, succeeded, failed or cancelled');
          if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AdminError(400, 'INVALID_REQUEST', 'limit: 1 to 1000');
          const list = await builds.store.listBuilds({ ...(repository ? { repository } : {}), ...(definitionId ? { definitionId } : {}), ...(status ? { status: status as BuildStatus } : {}), limit });
          json(res, 200, { builds: list.map(buildJson) });
        });
      }
      m = /^builds\/([^/]+)(?:\/(cancel|logs))?$/.exec(path);
      if (m) {
        const id = m[1]!;
        const sub = m[2];
        const known = BUILD_ID.test(id);
        if (sub === 'cancel') {
          return route('admin-build-cancel', ['POST'], async (_req, res) => {
            if (!known) throw new AdminError(404, 'NOT_FOUND', 'no such build');
            json(res, 200, buildJson(await builds.cancel(id)));
          });
        }
        if (sub === 'logs') {
          return route('admin-build-logs', ['GET'], async (req, res, query) => {
            if (!known) throw new AdminError(404, 'NOT_FOUND', 'no such build');
            await builds.build(id);
            await streamLogs(builds, id, query.get('follow') === '1' || query.get('follow') === 'true', req, res);
          });
        }
        return route('admin-build', ['GET'], async (_req, res) => {
          if (!known) throw new AdminError(404, 'NOT_FOUND', 'no such build');
          json(res, 200, buildJson(await builds.build(id)));
        });
      }
      return undefined;
    },
  };
}

/** Writes the stored log; with `follow`, keeps writing new lines until the build has ended. */
async function streamLogs(builds: Builds, id: string, follow: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  let seq = 0;
  let gone = false;
  req.socket.once('close', () => (gone = true));
  for (;;) {
    for (;;) {
      const lines = await builds.store.readLog(id, seq, 1000);
      if (lines.length === 0) break;
      res.write(lines.map((l) => `${l.text}\n`).join(''));
      seq = lines[lines.length - 1]!.seq;
    }
    const build = await builds.store.getBuild(id);
    if (!follow || gone || !build || TERMINAL.includes(build.status)) {
      if (follow && build && TERMINAL.includes(build.status)) {
        // lines written just before the end
        const tail = await builds.store.readLog(id, seq, 100_000);
        if (tail.length) res.write(tail.map((l) => `${l.text}\n`).join(''));
      }
      break;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 500);
      const unsubscribe = builds.queue.subscribe(id, done);
      function done() {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  }
  res.end();
}
