/**
 * `--json-schema` on `generate` and `run` (llama.cpp's flag): the random-weight fixture, which
 * otherwise writes anything, prints JSON that fits the schema and stops by itself; a schema given
 * inline or as a file; bad schemas are one-line errors.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelDir } from '../support/fixtures.js';
import { describeResult, runCli, scratchDir } from './helpers.js';

const SCHEMA = { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer' }, rain: { type: 'boolean' } }, required: ['city', 'days'] };

function fits(text: string): void {
  const v = JSON.parse(text) as Record<string, unknown>;
  assert.equal(typeof v.city, 'string');
  assert.ok([...(v.city as string)].length <= 12, "maxLength counts code points");
  assert.ok(Number.isInteger(v.days));
  assert.ok(!('rain' in v) || typeof v.rain === 'boolean');
  assert.deepEqual(Object.keys(v).filter((k) => !['city', 'days', 'rain'].includes(k)), []);
}

describe('CLI --json-schema', () => {
  const scratch = scratchDir('cli-json-schema');
  after(() => scratch.cleanup());

  it('generate: inline schema, greedy and sampled: JSON that fits, finished by the grammar', async () => {
    for (const sampling of [[], ['--temperature', '1.2', '--seed', '5']]) {
      const r = await runCli(['generate', modelDir('llama3-tiny'), '--prompt', 'Weather:', '--max-tokens', '200', '--json', '--json-schema', JSON.stringify(SCHEMA), ...sampling]);
      assert.equal(r.status, 0, describeResult(r));
      const out = JSON.parse(r.stdout) as { text: string; finish_reason: string };
      assert.equal(out.finish_reason, 'stop', out.text);
      fits(out.text);
    }
  });

  it('run: the schema from a file, the chat reply is the JSON', async () => {
    const file = join(scratch.dir, 'schema.json');
    writeFileSync(file, JSON.stringify(SCHEMA));
    const r = await runCli(['run', '--prompt', 'Weather in Rome?', '--max-tokens', '200', '--seed', '3', '--json-schema', file]);
    assert.equal(r.status, 0, describeResult(r));
    fits(r.stdout.trim());
  });

  for (const [what, value, message] of [
    ['invalid JSON', '{"type": ', /--json-schema: invalid JSON/],
    ['a missing file', 'no-such-schema.json', /--json-schema: no-such-schema\.json is neither inline JSON nor a readable file/],
    ['an unsupported keyword', '{"type": "string", "pattern": "a+"}', /--json-schema: unsupported JSON Schema keyword "pattern"/],
  ] as const) {
    it(`${what}: exit 1 with one line`, async () => {
      const r = await runCli(['generate', '--prompt', 'x', '--json-schema', value]);
      assert.equal(r.status, 1, describeResult(r));
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
    });
  }
});
