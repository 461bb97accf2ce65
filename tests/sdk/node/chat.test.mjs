// Official OpenAI Node SDK (openai@6.49.0): Chat Completions on the gateway (reference/openai.md
// section 5, check 45). Run as responses.test.mjs is (GATEWAY_BASE_URL, MASTRA_URL).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';

const BASE_URL = (process.env.GATEWAY_BASE_URL ?? '').replace(/\/+$/, '');
const SUPPORT = 'support-agent';
const GET_TIME = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The current time in a time zone.',
    parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] },
  },
};

let client;
before(() => {
  assert.ok(BASE_URL, 'GATEWAY_BASE_URL must be set');
  client = new OpenAI({ baseURL: BASE_URL, apiKey: 'sk-conformance-test-key', maxRetries: 0, timeout: 60_000 });
});
const tag = () => randomBytes(5).toString('hex');

test('chat: non-stream chat.completion (check 45)', async () => {
  const word = tag();
  const r = await client.chat.completions.create({ model: SUPPORT, messages: [{ role: 'user', content: `hi ${word}` }] });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, `echo: hi ${word}`);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat: stream with include_usage ends with a usage chunk (check 45)', async () => {
  const word = tag();
  const stream = await client.chat.completions.create({
    model: SUPPORT,
    messages: [{ role: 'user', content: `streamed ${word}` }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(chunks.every(c => c.object === 'chat.completion.chunk'));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.filter(c => c.choices.length).map(c => c.choices[0].delta.content ?? '').join(''), `echo: streamed ${word}`);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.total_tokens > 0);
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
});

test('chat: tool loop, streamed call then the tool message', async () => {
  const messages = [{ role: 'user', content: `CALL_CLIENT get_time {"tz":"UTC"} ${tag()}` }];
  const stream = await client.chat.completions.create({ model: SUPPORT, messages, tools: [GET_TIME], stream: true });
  let id = null;
  let name = null;
  let args = '';
  let finish = null;
  for await (const c of stream) {
    const ch = c.choices[0];
    if (!ch) continue;
    for (const d of ch.delta.tool_calls ?? []) {
      assert.equal(d.index, 0);
      if (d.id) [id, name] = [d.id, d.function.name];
      args += d.function?.arguments ?? '';
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(name, 'get_time');
  assert.deepEqual(JSON.parse(args), { tz: 'UTC' });
  messages.push(
    { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name, arguments: args } }] },
    { role: 'tool', tool_call_id: id, content: '12:00' },
  );
  const r = await client.chat.completions.create({ model: SUPPORT, messages, tools: [GET_TIME] });
  assert.equal(r.choices[0].message.content, 'tool get_time returned: "12:00"');
});

test('chat: refusals are BadRequestError naming the parameter; mid-stream failure throws', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: SUPPORT, messages: [{ role: 'user', content: 'x' }], n: 3 }),
    err => err instanceof OpenAI.BadRequestError && err.param === 'n',
  );
  const stream = await client.chat.completions.create({ model: SUPPORT, messages: [{ role: 'user', content: 'MIDSTREAM_ERROR' }], stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) {
      // drain
    }
  }, err => err instanceof OpenAI.APIError && /mock midstream failure/.test(err.message));
});
