// Official OpenAI Node SDK (openai@6.49.0): Conversations API and input_items through the gateway
// and a real Mastra. Checks 27–28 and 31–39 of reference/openai.md section 6.
// Run: GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 node --test conversations.test.mjs
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';

const BASE_URL = (process.env.GATEWAY_BASE_URL ?? '').replace(/\/+$/, '');
const SUPPORT = 'support-agent';

let client;

before(() => {
  assert.ok(BASE_URL, 'GATEWAY_BASE_URL must be set (e.g. http://127.0.0.1:8080/v1)');
  client = new OpenAI({ baseURL: BASE_URL, apiKey: 'sk-conformance-test-key', maxRetries: 0, timeout: 60_000 });
});

const tag = () => randomBytes(5).toString('hex');

async function expectStatus(promise, Cls, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    assert.ok(err.requestID, 'error has a requestID');
    return err;
  }
  assert.fail(`expected ${Cls.name} (${status}), but the call succeeded`);
}

async function collect(page) {
  const out = [];
  for await (const item of page) out.push(item);
  return out;
}

const userMsg = text => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });
const textOf = item => (item.content ?? []).map(p => p.text ?? '').join('');

test('create with items and metadata, retrieve, update, delete (checks 31, 32, 34)', async () => {
  const conv = await client.conversations.create({ items: [userMsg(`hello ${tag()}`)], metadata: { topic: 'demo' } });
  assert.equal(conv.object, 'conversation');
  assert.ok(conv.id, 'has an id');
  assert.equal(typeof conv.created_at, 'number');
  assert.ok(Number.isInteger(conv.created_at));
  assert.deepEqual(conv.metadata, { topic: 'demo' });

  const updated = await client.conversations.update(conv.id, { metadata: { topic: 'weather', lang: 'en' } });
  assert.deepEqual(updated.metadata, { topic: 'weather', lang: 'en' });
  const again = await client.conversations.retrieve(conv.id);
  assert.deepEqual(again.metadata, { topic: 'weather', lang: 'en' });
  assert.equal(again.created_at, conv.created_at);

  const deleted = await client.conversations.delete(conv.id);
  assert.deepEqual(deleted, { id: conv.id, object: 'conversation.deleted', deleted: true });
  await expectStatus(client.conversations.retrieve(conv.id), OpenAI.NotFoundError, 404);
  await expectStatus(client.conversations.delete(conv.id), OpenAI.NotFoundError, 404);
});

test('metadata limits (check 33)', async () => {
  const many = Object.fromEntries([...Array(17).keys()].map(i => [`k${i}`, 'v']));
  for (const metadata of [many, { ['k'.repeat(65)]: 'v' }, { k: 'v'.repeat(513) }]) {
    const err = await expectStatus(client.conversations.create({ metadata }), OpenAI.BadRequestError, 400);
    assert.equal(err.param, 'metadata');
    assert.equal(err.type, 'invalid_request_error');
  }
});

test('unknown conversation on every route (check 35)', async () => {
  const id = `conv_missing_${tag()}`;
  const message = `Conversation with id '${id}' not found.`;
  const calls = [
    () => client.conversations.retrieve(id),
    () => client.conversations.update(id, { metadata: {} }),
    () => client.conversations.delete(id),
    () => client.conversations.items.list(id),
    () => client.conversations.items.create(id, { items: [userMsg('x')] }),
    () => client.conversations.items.retrieve('msg_x', { conversation_id: id }),
    () => client.conversations.items.delete('msg_x', { conversation_id: id }),
    () => client.responses.create({ model: SUPPORT, input: 'x', conversation: id }),
  ];
  for (const call of calls) {
    const err = await expectStatus(call(), OpenAI.NotFoundError, 404);
    assert.equal(err.type, 'invalid_request_error');
    assert.equal(err.error.message, message);
  }
});

test('items create, retrieve, delete; more than 20 refused (checks 36, 38)', async () => {
  const conv = await client.conversations.create({});
  const created = await client.conversations.items.create(conv.id, { items: [userMsg('one'), userMsg('two')] });
  assert.equal(created.object, 'list');
  assert.equal(created.data.length, 2);
  for (const item of created.data) {
    assert.ok(item.id);
    assert.equal(item.status, 'completed');
  }
  assert.equal(created.first_id, created.data[0].id);
  assert.equal(created.last_id, created.data[1].id);
  assert.equal(created.has_more, false);

  const got = await client.conversations.items.retrieve(created.data[0].id, { conversation_id: conv.id });
  assert.equal(got.id, created.data[0].id);
  assert.equal(textOf(got), 'one');

  const after = await client.conversations.items.delete(created.data[0].id, { conversation_id: conv.id });
  assert.equal(after.object, 'conversation');
  assert.equal(after.id, conv.id);
  const left = await collect(client.conversations.items.list(conv.id, { order: 'asc' }));
  assert.deepEqual(left.map(i => i.id), [created.data[1].id]);

  const tooMany = [...Array(21).keys()].map(i => userMsg(`m${i}`));
  await expectStatus(client.conversations.items.create(conv.id, { items: tooMany }), OpenAI.BadRequestError, 400);
});

test('items auto-pagination, limit 3, both orders (check 37)', async () => {
  const texts = [...Array(8).keys()].map(i => `item ${i} ${tag()}`);
  const conv = await client.conversations.create({ items: texts.slice(0, 4).map(userMsg) });
  await client.conversations.items.create(conv.id, { items: texts.slice(4).map(userMsg) });
  const asc = await collect(client.conversations.items.list(conv.id, { limit: 3, order: 'asc' }));
  assert.deepEqual(asc.map(textOf), texts);
  const desc = await collect(client.conversations.items.list(conv.id, { limit: 3 }));
  assert.deepEqual(desc.map(textOf), [...texts].reverse(), 'desc is the default order');
  const first = await client.conversations.items.list(conv.id, { limit: 3, order: 'asc' }).asResponse();
  const body = await first.json();
  assert.equal(body.object, 'list');
  assert.equal(body.has_more, true);
  assert.equal(body.first_id, body.data[0].id);
  assert.equal(body.last_id, body.data[2].id);
});

test('responses in a conversation append input then output items (check 39)', async () => {
  const conv = await client.conversations.create({});
  const word = tag();
  const r1 = await client.responses.create({ model: SUPPORT, input: `hello ${word}`, conversation: conv.id });
  assert.deepEqual(r1.conversation, { id: conv.id });
  const r2 = await client.responses.create({ model: SUPPORT, input: 'CALL_TOOL Oslo', conversation: { id: conv.id } });
  assert.deepEqual(r2.conversation, { id: conv.id });
  const items = await collect(client.conversations.items.list(conv.id, { order: 'asc' }));
  assert.deepEqual(
    items.map(i => i.type),
    ['message', 'message', 'message', 'mcp_call', 'message'],
  );
  assert.equal(textOf(items[0]), `hello ${word}`);
  assert.equal(items[1].role, 'assistant');
  assert.equal(textOf(items[1]), `echo: hello ${word}`);
  assert.equal(textOf(items[2]), 'CALL_TOOL Oslo');
  // The tool turn's items are the response's own output items, ids included: the tool Mastra
  // ran is one mcp_call item.
  assert.deepEqual(items.slice(3).map(i => i.id), r2.output.map(o => o.id));
  const again = await client.responses.retrieve(r2.id);
  assert.deepEqual(again.conversation, { id: conv.id });
});

test('input_items list and auto-pagination (checks 27, 28)', async () => {
  const texts = [...Array(7).keys()].map(i => `input ${i} ${tag()}`);
  const resp = await client.responses.create({
    model: SUPPORT,
    input: texts.map(t => ({ role: 'user', content: t })),
  });
  const page = await (await client.responses.inputItems.list(resp.id).asResponse()).json();
  assert.equal(page.object, 'list');
  assert.equal(page.first_id, page.data[0].id);
  assert.equal(page.last_id, page.data[page.data.length - 1].id);
  assert.deepEqual(page.data.map(textOf), [...texts].reverse(), 'desc by default');
  const asc = await collect(client.responses.inputItems.list(resp.id, { order: 'asc', limit: 3 }));
  assert.deepEqual(asc.map(textOf), texts);
});
