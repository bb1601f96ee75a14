import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_STATUS } from '../../src/http/error-mapping.ts';
import { ERROR_CODES } from '../../src/registry/errors.ts';

it('docs/errors.md lists exactly the codes and statuses of the error mapping', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const);
  const documented = Object.fromEntries(rows);
  const mapped = Object.fromEntries(ERROR_CODES.map((code) => [code, ERROR_STATUS[code].status]));
  assert.deepEqual(documented, mapped);
});
