import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { API_TYPES_FILE, consoleApiTypes } from '../../scripts/console-api-types.ts';

describe("the console's API types", () => {
  it('are what the OpenAPI document generates today (run npm run console:api-types after changing a route)', async () => {
    const generated = await consoleApiTypes();
    assert.ok(generated.includes('"/api/tasks/{id}/next-fires"'), 'generated from the route table');
    assert.equal(readFileSync(API_TYPES_FILE, 'utf8'), generated, 'console/src/api/schema.d.ts is stale: npm run console:api-types');
  });
});
