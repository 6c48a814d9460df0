// The daemon's settings: every bad value refused with what is allowed and nothing changed,
// good ones persisted (0600) before listeners hear them, a damaged file recovered field by field,
// the bridge's read-only mirror, and the engine's view of them (keepalive, sensitivity,
// multihoming mode, interface order).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_SETTINGS, type Settings } from '../../src-shared/control-api.js';
import { DEFAULT_DETECTION } from '../../src-main/mobility/failure-detection.js';
import { SettingsMirror } from '../../src-main/daemon/settings-mirror.js';
import { SettingsStore } from '../../src-main/daemon/settings-store.js';
import { engineTuning, kindPreference, tuningChanges } from '../../src-main/daemon/settings-tuning.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-settings-'));
  dirs.push(dir);
  return dir;
}

test('bad values are refused with what is allowed, and nothing changes (not even the good fields)', async () => {
  const dir = await freshDir();
  const store = await SettingsStore.open(dir);
  const heard: Settings[] = [];
  store.subscribe((s) => heard.push(s));
  const cases: Array<[unknown, RegExp]> = [
    [{}, /^params: names no setting to change$/],
    [{ keepaliveIntervalS: 0, notifications: false }, /^params\.keepaliveIntervalS: expected an integer 1\.\.300, got 0$/],
    [{ keepaliveIntervalS: 301 }, /an integer 1\.\.300, got 301/],
    [{ keepaliveIntervalS: 2.5 }, /an integer 1\.\.300, got 2\.5/],
    [{ keepaliveIntervalS: '15' }, /an integer 1\.\.300, got "15"/],
    [{ failureDetection: 'paranoid' }, /^params\.failureDetection: expected one of "relaxed", "normal", "aggressive", got "paranoid"$/],
    [{ multihomingMode: 'bonding' }, /^params\.multihomingMode: expected one of "failover", "load-sharing"/],
    [{ interfacePreference: ['wifi', 'wifi'] }, /^params\.interfacePreference: interface kind "wifi" is listed twice$/],
    [{ interfacePreference: ['satellite'] }, /^params\.interfacePreference\[0\]: expected one of "ethernet", "wifi", "cellular", "virtual", "other"/],
    [{ interfaceOrder: ['eth0', 'eth0'] }, /^params\.interfaceOrder: interface "eth0" is listed twice$/],
    [{ interfaceOrder: ['a very long interface name'] }, /^params\.interfaceOrder\[0\]: expected an interface name/],
    [{ startAtLogin: 'yes' }, /^params\.startAtLogin: expected true or false, got "yes"$/],
    [{ notifications: null }, /^params\.notifications: expected true or false, got null$/],
    [{ keepalive: 20 }, /^params\.keepalive: unknown field \(expected keepaliveIntervalS, failureDetection/],
    ['fast', /^params: expected an object/],
  ];
  for (const [patch, message] of cases) {
    const r = await store.set(patch);
    assert.equal(r.ok, false, `refused: ${JSON.stringify(patch)}`);
    assert.match((r as { error: string }).error, message, JSON.stringify(patch));
  }
  assert.deepEqual(store.get(), DEFAULT_SETTINGS, 'still the defaults');
  assert.deepEqual(heard, [], 'no listener heard a refused patch');
  assert.deepEqual(await readdir(dir), [], 'nothing written');
});

test('a good patch is persisted (0600), then listeners hear the new and previous settings', async () => {
  const dir = await freshDir();
  const store = await SettingsStore.open(dir);
  const heard: Array<[Settings, Settings]> = [];
  store.subscribe((next, previous) => heard.push([next, previous]));
  const r = await store.set({ keepaliveIntervalS: 25, interfaceOrder: ['wlan0', 'eth0'], failureDetection: 'aggressive' });
  assert.ok(r.ok && r.value.changed, 'accepted');
  const path = join(dir, 'settings.json');
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  const onDisk = JSON.parse(await readFile(path, 'utf8')) as Settings;
  assert.deepEqual(onDisk, { ...DEFAULT_SETTINGS, keepaliveIntervalS: 25, interfaceOrder: ['wlan0', 'eth0'], failureDetection: 'aggressive' });
  assert.equal(heard.length, 1);
  assert.deepEqual(heard[0]![0], onDisk, 'listeners get what the file says');
  assert.equal(heard[0]![1].keepaliveIntervalS, 15, 'and what it said before');
  const same = await store.set({ keepaliveIntervalS: 25 });
  assert.ok(same.ok && !same.value.changed, 'a patch that changes nothing is accepted quietly');
  assert.equal(heard.length, 1, 'and not announced');
  const reopened = await SettingsStore.open(dir);
  assert.deepEqual(reopened.get(), onDisk, 'the daemon restarts with them');
  const [a, b] = await Promise.all([store.set({ notifications: false }), store.set({ startAtLogin: true })]);
  assert.ok(a.ok && b.ok, 'both applied');
  assert.deepEqual((await SettingsStore.open(dir)).get(), { ...onDisk, notifications: false, startAtLogin: true }, 'concurrent patches do not overwrite each other');
});

test('a damaged settings.json: valid fields kept, the rest default, each named in a warning', async () => {
  const dir = await freshDir();
  await writeFile(join(dir, 'settings.json'), JSON.stringify({ ...DEFAULT_SETTINGS, keepaliveIntervalS: 9999, multihomingMode: 'load-sharing', colour: 'red' }));
  const warnings: string[] = [];
  const store = await SettingsStore.open(dir, (m) => warnings.push(m));
  assert.deepEqual(store.get(), { ...DEFAULT_SETTINGS, multihomingMode: 'load-sharing' });
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, /keepaliveIntervalS: expected an integer 1\.\.300, got 9999; using the default$/);
  assert.match(warnings[1]!, /colour: unknown field/);
  await writeFile(join(dir, 'settings.json'), 'not json');
  const broken: string[] = [];
  assert.deepEqual((await SettingsStore.open(dir, (m) => broken.push(m))).get(), DEFAULT_SETTINGS);
  assert.match(broken[0]!, /not JSON; kept as .*settings\.json\.unreadable-.*; using the defaults/);
});

test('the bridge\'s mirror: the file while no daemon runs, then what the daemon says; it never writes', async () => {
  const dir = await freshDir();
  const mirror = await SettingsMirror.open(dir);
  assert.deepEqual(mirror.get(), DEFAULT_SETTINGS, 'no file: the defaults');
  const store = await SettingsStore.open(dir);
  await store.set({ notifications: false });
  assert.equal(mirror.get().notifications, true, 'a copy, until told');
  assert.equal((await mirror.reread()).notifications, false, 'rereads the file');
  mirror.update({ ...DEFAULT_SETTINGS, keepaliveIntervalS: 40 });
  assert.equal(mirror.get().keepaliveIntervalS, 40, 'takes what the daemon sent');
  await writeFile(join(dir, 'settings.json'), 'garbage');
  assert.deepEqual(await mirror.reread(), DEFAULT_SETTINGS, 'a file it cannot read shows the defaults');
  assert.deepEqual(await readdir(dir), ['settings.json'], 'and stays where it is: the daemon decides what to do with it');
});

test('the engine\'s view: keepalive in ms, sensitivity as detector thresholds, mode and interface order', () => {
  const normal = engineTuning(DEFAULT_SETTINGS);
  assert.equal(normal.keepaliveMs, 15_000);
  assert.deepEqual(normal.detection, { ...DEFAULT_DETECTION, keepaliveMs: 15_000 }, 'normal is the detector\'s default');
  assert.equal(normal.multihoming, 'fault-tolerance');
  const relaxed = engineTuning({ ...DEFAULT_SETTINGS, failureDetection: 'relaxed' }).detection;
  const aggressive = engineTuning({ ...DEFAULT_SETTINGS, failureDetection: 'aggressive' }).detection;
  assert.ok(relaxed.silenceFloorMs > normal.detection.silenceFloorMs && normal.detection.silenceFloorMs > aggressive.silenceFloorMs, 'relaxed waits longer before suspecting a path, aggressive less');
  assert.ok(relaxed.silenceMaxMs > normal.detection.silenceMaxMs && normal.detection.silenceMaxMs > aggressive.silenceMaxMs, 'and gives up on a silent path later / sooner');
  assert.ok(aggressive.silencePackets >= 2, 'never suspects the one unanswered packet that ends every exchange');
  assert.equal(engineTuning({ ...DEFAULT_SETTINGS, multihomingMode: 'load-sharing' }).multihoming, 'simultaneous');
  assert.deepEqual(kindPreference(['cellular', 'other', 'wifi']), ['cellular', 'wifi', 'ethernet', 'virtual'], 'listed kinds first, the rest in the engine\'s order, "other" is not ranked');
  const moved = engineTuning({ ...DEFAULT_SETTINGS, interfaceOrder: ['wwan0'], keepaliveIntervalS: 15 });
  assert.deepEqual(tuningChanges(moved, normal), ['interfaces']);
  assert.deepEqual(tuningChanges(engineTuning({ ...DEFAULT_SETTINGS, keepaliveIntervalS: 5 }), normal), ['keepalive', 'detection']);
});

test('meteredInterfaces: a settings.json without it reads as none metered, no warning; a change of it is its own tuning change', async () => {
  const dir = await freshDir();
  const { meteredInterfaces: _none, ...older } = DEFAULT_SETTINGS;
  await writeFile(join(dir, 'settings.json'), JSON.stringify({ ...older, keepaliveIntervalS: 20 }));
  const warnings: string[] = [];
  const store = await SettingsStore.open(dir, (m) => warnings.push(m));
  assert.deepEqual(store.get(), { ...DEFAULT_SETTINGS, keepaliveIntervalS: 20 });
  assert.deepEqual(warnings, []);
  const base = engineTuning(DEFAULT_SETTINGS);
  const metered = engineTuning({ ...DEFAULT_SETTINGS, meteredInterfaces: ['wwan0'] });
  assert.deepEqual(metered.meteredInterfaces, ['wwan0']);
  assert.deepEqual(tuningChanges(metered, base), ['metered']);
  assert.deepEqual(tuningChanges(engineTuning({ ...DEFAULT_SETTINGS, meteredInterfaces: ['a0', 'b0'] }), engineTuning({ ...DEFAULT_SETTINGS, meteredInterfaces: ['b0', 'a0'] })), [], 'the order of the list means nothing');
});
