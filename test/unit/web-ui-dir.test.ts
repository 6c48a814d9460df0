// `hipvpn web` serves the renderer build from the repository's dist/renderer whether it runs from
// the sources (tsx) or from the compiled CLI (dist/), and says what to run when there is none.
//
//   node --import tsx --test test/unit/web-ui-dir.test.ts

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultUiDir, missingUiWarning } from '../../src-main/web/web-command.js';

test('the UI dir is <repo>/dist/renderer from the source and from the compiled CLI', () => {
  const repo = mkdtempSync(join(tmpdir(), 'hipvpn-ui-dir-'));
  try {
    writeFileSync(join(repo, 'package.json'), '{}');
    assert.equal(defaultUiDir(join(repo, 'src-main/web/web-command.ts')), join(repo, 'dist/renderer'));
    assert.equal(defaultUiDir(join(repo, 'dist/src-main/web/web-command.js')), join(repo, 'dist/renderer'));
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});

test('without a renderer build the warning names the dir and the command that builds it', () => {
  const ui = mkdtempSync(join(tmpdir(), 'hipvpn-ui-'));
  try {
    assert.match(missingUiWarning(ui) ?? '', /not built in .*: run `npm run build:renderer`/);
    mkdirSync(ui, { recursive: true });
    writeFileSync(join(ui, 'index.html'), '<!doctype html>');
    assert.equal(missingUiWarning(ui), undefined);
  } finally {
    rmSync(ui, { recursive: true, force: true });
  }
});
