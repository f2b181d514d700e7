// The shared store's default location follows the user: XDG for users, /var/lib for root.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { defaultStoreDir, storeDir } from '../../src/store';

test('default store: /var/lib for root, XDG_DATA_HOME or ~/.local/share for users', () => {
  assert.equal(defaultStoreDir({ uid: 0, env: { XDG_DATA_HOME: '/x' } }), '/var/lib/ocimount/store');
  assert.equal(defaultStoreDir({ uid: 1000, env: { XDG_DATA_HOME: '/data/me' } }), '/data/me/ocimount/store');
  assert.equal(defaultStoreDir({ uid: 1000, env: { HOME: '/home/me' } }), '/home/me/.local/share/ocimount/store');
  // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
  assert.equal(defaultStoreDir({ uid: 1000, env: { XDG_DATA_HOME: 'rel', HOME: '/home/me' } }), '/home/me/.local/share/ocimount/store');
  assert.equal(storeDir('/s', { uid: 0, env: {} }), '/s');
  assert.equal(storeDir(undefined, { uid: 1000, env: { OCIMOUNT_STORE: '/env/store', HOME: '/h' } }), '/env/store');
});
