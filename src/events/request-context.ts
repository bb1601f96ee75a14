/**
 * Facts about the HTTP request being served, for the events it causes: the HTTP layer opens a scope per
 * request (http/server.ts) and the access gate adds who the caller is. Code outside a request (jobs, the
 * CLI, builds) runs without one, and its events carry no request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestFacts {
  id: string;
  /** The client's address and port, as the reference registry reports it (`127.0.0.1:41810`). */
  addr: string;
  /** The Host header. */
  host: string;
  method: string;
  useragent: string;
  /** `http` or `https`, for the URLs in events. */
  scheme: string;
  /** The query string, for telling a cross-repository mount from an upload. */
  query: URLSearchParams;
  /** The authenticated user or API-token name, once the gate knows it. */
  actor?: string;
}

const scope = new AsyncLocalStorage<RequestFacts>();

export function runInRequestScope<T>(facts: RequestFacts, work: () => T): T {
  return scope.run(facts, work);
}

export function currentRequest(): RequestFacts | undefined {
  return scope.getStore();
}

/** Records who is making the current request (no effect outside a request). */
export function noteActor(name: string | undefined): void {
  const facts = scope.getStore();
  if (facts && name !== undefined) facts.actor = name;
}
