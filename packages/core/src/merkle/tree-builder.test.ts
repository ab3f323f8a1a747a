import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { emptyRoot } from './hash.js';
import { MemoryHashStore } from './memory-store.js';
import { treeHash } from './tree.js';
import { TreeBuilder } from './tree-builder.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('TreeBuilder reproduces the CT reference roots', () => {
  const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const tb = new TreeBuilder();
  assert.equal(hex(tb.root()), hex(emptyRoot()));
  for (const l of leaves) tb.append(Buffer.from(l, 'hex'));
  assert.equal(tb.size, 8);
  assert.equal(hex(tb.root()), '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
});

test('TreeBuilder agrees with the stored tree at every size up to 300', async () => {
  const store = new MemoryHashStore();
  const tb = new TreeBuilder();
  for (let i = 0; i < 300; i++) {
    const leaf = Buffer.from(`event ${i}\n`);
    await store.append(leaf);
    tb.append(leaf);
    assert.equal(hex(tb.root()), hex(await treeHash(store, i + 1)), `size ${i + 1}`);
  }
});

test('root() does not disturb the state, and calling it twice gives the same root', () => {
  const a = new TreeBuilder();
  const b = new TreeBuilder();
  for (let i = 0; i < 37; i++) {
    a.append(Uint8Array.of(i));
    a.root();
    b.append(Uint8Array.of(i));
  }
  assert.equal(hex(a.root()), hex(b.root()));
  assert.equal(hex(a.root()), hex(a.root()));
});
