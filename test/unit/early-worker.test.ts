/**
 * The early worker (main/early-worker.ts) reads `pier serve`'s command line before commander is loaded, so
 * it keeps its own list of the options that take a value; it must be serve's list, or a value would be
 * taken for the configuration file (or the file for a value) and the pool guessed wrongly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveCommand } from '../../src/cli/serve.ts';
import { SERVE_OPTIONS_WITH_VALUES } from '../../src/main/early-worker.ts';

describe('early worker', () => {
  it("knows exactly the options of `pier serve` that take a value", () => {
    const valued = serveCommand()
      .options.filter((option) => option.required || option.optional)
      .map((option) => option.long)
      .sort();
    assert.ok(valued.length > 0);
    assert.deepEqual([...SERVE_OPTIONS_WITH_VALUES].sort(), valued);
  });
});
