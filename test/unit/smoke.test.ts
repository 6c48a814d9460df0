import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamType } from '../../src-main/hip/wire/constants.js';
test('constants load', () => { assert.equal(ParamType.HIP_SIGNATURE, 61697); });
