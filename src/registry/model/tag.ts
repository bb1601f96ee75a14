/** Tags: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (OCI Distribution spec). */
import { RegistryError } from '../errors.ts';

const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isTag(text: string): boolean {
  return TAG.test(text);
}

export function parseTag(text: string): string {
  if (!isTag(text)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: text.slice(0, 129) });
  return text;
}
