/**
 * Turns finished /v2 requests into activity records: a stored manifest (PUT answered 201) is a push by the
 * authenticated user; a manifest served (GET answered 200) is a pull. The digest is the one the response
 * carried, so a pull by tag is recorded against the manifest it resolved to.
 */
import type { ActivityRecorder } from '../browse/activity-recorder.ts';
import { authenticatedUser } from './request-gate.ts';
import type { ExchangeEnd } from './server.ts';

export function observeActivity(recorder: ActivityRecorder): (event: ExchangeEnd) => void {
  return ({ routeId, method, status, params, req, res }) => {
    if (routeId !== 'manifest' || params.name === undefined) return;
    const digest = res.getHeader('docker-content-digest');
    if (typeof digest !== 'string') return;
    if (method === 'PUT' && status === 201) recorder.pushed(params.name, digest, authenticatedUser(req));
    else if (method === 'GET' && status === 200) recorder.pulled(params.name, digest);
  };
}
