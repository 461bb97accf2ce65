// Official OpenAI Node SDK (openai@6.49.0) conformance tests for mastra-gateway.
// Run: GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 MASTRA_URL=http://127.0.0.1:PORT node --test
// (or `bash tests/run-all.sh`). Check numbers refer to reference/openai.md section 6.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';

const BASE_URL = (process.env.GATEWAY_BASE_URL ?? '').replace(/\/+$/, '');
const MASTRA_URL = (process.env.MASTRA_URL ?? '').replace(/\/+$/, '');
const SUPPORT = 'support-agent';
const ECHO = 'echo-agent';
const TOOL_TEXT = 'tool get_weather returned: {"city":"Oslo","tempC":21,"conditions":"sunny"}';

let client;

before(() => {
  assert.ok(BASE_URL, 'GATEWAY_BASE_URL must be set (e.g. http://127.0.0.1:8080/v1)');
  assert.ok(MASTRA_URL, 'MASTRA_URL must be set (e.g. http://127.0.0.1:4111)');
  // maxRetries 0: a 5xx must fail the test, not be retried away.
  client = new OpenAI({ baseURL: BASE_URL, apiKey: 'sk-conformance-test-key', maxRetries: 0, timeout: 60_000 });
});

const tag = () => randomBytes(5).toString('hex');

function assertSequence(events) {
  const seqs = events.map(e => e.sequence_number);
  assert.deepEqual(seqs, [...Array(events.length).keys()], `sequence_number not dense from 0: ${seqs}`);
}

async function expectError(promise, Cls, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    assert.ok(err.requestID, `error has no requestID (x-request-id header): ${err.message}`);
    assert.equal(typeof err.error?.message, 'string', `error body lacks error.message: ${JSON.stringify(err.error)}`);
    return err;
  }
  assert.fail(`expected ${Cls.name} (${status}), but the call succeeded`);
}

test('create: output_text, ids, status (checks 1, 2, 40)', async () => {
  const word = tag();
  const resp = await client.responses.create({ model: SUPPORT, input: `hi ${word}` });
  assert.equal(resp.object, 'response');
  assert.match(resp.id, /^resp_/);
  assert.equal(resp.status, 'completed');
  assert.equal(resp.output[0].type, 'message');
  assert.equal(resp.output[0].role, 'assistant');
  assert.match(resp.output[0].id, /^msg_/);
  assert.equal(resp.output[0].content[0].type, 'output_text');
  assert.equal(resp.output_text, `echo: hi ${word}`);
  assert.match(resp._request_id ?? '', /^req_/, `_request_id: ${resp._request_id}`);
  const u = resp.usage;
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
});

test('create with withResponse exposes x-request-id and JSON content-type (check 40)', async () => {
  const { data, response, request_id } = await client.responses
    .create({ model: ECHO, input: `with response ${tag()}` })
    .withResponse();
  assert.equal(data.status, 'completed');
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(request_id, response.headers.get('x-request-id'));
  assert.match(request_id ?? '', /^req_/);
});

test('stream helper: responses.stream(...) + finalResponse() (check 15)', async () => {
  const word = tag();
  const stream = client.responses.stream({ model: ECHO, input: `helper ${word}` });
  const deltas = [];
  stream.on('response.output_text.delta', ev => deltas.push(ev.delta));
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  assert.match(final.id, /^resp_/);
  assert.equal(final.output_text, `you said: helper ${word}`);
  assert.equal(deltas.join(''), final.output_text);
  assert.ok(deltas.length >= 2, `expected one delta per word, got ${deltas.length}`);
});

test('stream helper: async iteration then finalResponse() on a tool turn (checks 15, 16)', async () => {
  const stream = client.responses.stream({ model: SUPPORT, input: `CALL_TOOL Oslo ${tag()}` });
  const types = [];
  for await (const ev of stream) types.push(ev.type);
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  // A tool Mastra ran is a tool the server ran: one mcp_call item, never a function_call the
  // client would try to run.
  assert.deepEqual(final.output.map(i => i.type), ['mcp_call', 'message']);
  assert.equal(final.output[0].arguments, '{"city":"Oslo"}');
  assert.equal(final.output[0].server_label, SUPPORT);
  assert.equal(final.output_text, TOOL_TEXT);
  assert.ok(types.includes('response.mcp_call_arguments.delta'), types.join(','));
  assert.ok(!types.some(t => t.startsWith('response.function_call')), types.join(','));
});

test('raw stream: stream:true iteration, sequence numbers, event order (checks 7-13)', async () => {
  const word = tag();
  const stream = await client.responses.create({ model: SUPPORT, input: `raw stream ${word}`, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assertSequence(events);
  const types = events.map(e => e.type);
  assert.deepEqual(types.slice(0, 4), [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
  ]);
  assert.deepEqual(types.slice(-4), [
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  const deltas = events.slice(4, -4);
  assert.ok(deltas.length >= 2 && deltas.every(e => e.type === 'response.output_text.delta'), types.join(','));
  const [created, inProgress] = events;
  for (const ev of [created, inProgress]) {
    assert.equal(ev.response.status, 'in_progress');
    assert.deepEqual(ev.response.output, []);
    assert.equal(ev.response.usage, null);
  }
  const id = created.response.id;
  assert.match(id, /^resp_/);
  assert.equal(inProgress.response.id, id);
  const completed = events.at(-1);
  assert.equal(completed.response.id, id);
  assert.equal(completed.response.status, 'completed');
  const itemId = events[2].item.id;
  for (const ev of events.slice(3, -2)) {
    assert.equal(ev.item_id, itemId);
    assert.equal(ev.output_index, 0);
    assert.equal(ev.content_index, 0);
  }
  const text = deltas.map(d => d.delta).join('');
  assert.equal(text, `echo: raw stream ${word}`);
  assert.equal(events.at(-4).text, text);
  assert.equal(events.at(-3).part.text, text);
  assert.equal(completed.response.output[0].content[0].text, text);
  for (const ev of [...deltas, events.at(-4)]) assert.ok(Array.isArray(ev.logprobs), `${ev.type} lacks logprobs[]`);
});

test('raw stream: tool turn event shapes (checks 16, 17)', async () => {
  const stream = await client.responses.create({ model: SUPPORT, input: `CALL_TOOL Oslo ${tag()}`, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assertSequence(events);
  const added = events.filter(e => e.type === 'response.output_item.added');
  assert.deepEqual(added.map(e => e.output_index), [0, 1]);
  assert.deepEqual(added.map(e => e.item.type), ['mcp_call', 'message']);
  const call = added[0].item;
  assert.match(call.id, /^mcp_/);
  assert.equal(call.name, 'get_weather');
  assert.equal(call.server_label, SUPPORT);
  assert.equal(call.arguments, '');
  assert.equal(call.output, null);
  // OpenAI's order for a hosted call: added, in_progress, arguments, completed, done.
  const ofCall = events.filter(e => e.item_id === call.id || e.item?.id === call.id).map(e => e.type);
  assert.deepEqual(ofCall[0], 'response.output_item.added');
  assert.deepEqual(ofCall[1], 'response.mcp_call.in_progress');
  assert.deepEqual(ofCall.slice(-3), [
    'response.mcp_call_arguments.done',
    'response.mcp_call.completed',
    'response.output_item.done',
  ]);
  const argDeltas = events.filter(e => e.type === 'response.mcp_call_arguments.delta');
  assert.ok(argDeltas.length >= 1);
  const argsDone = events.find(e => e.type === 'response.mcp_call_arguments.done');
  assert.equal(argsDone.item_id, call.id);
  assert.equal(argsDone.arguments, argDeltas.map(d => d.delta).join(''));
  assert.equal(argsDone.arguments, '{"city":"Oslo"}');
  const done = events.find(e => e.type === 'response.output_item.done' && e.output_index === 0);
  assert.equal(done.item.status, 'completed');
  assert.deepEqual(JSON.parse(done.item.output), { city: 'Oslo', tempC: 21, conditions: 'sunny' });
  const final = events.at(-1).response;
  assert.deepEqual(final.output.map(i => i.type), ['mcp_call', 'message']);
  assert.deepEqual(final.output[0], done.item);
  assert.equal(final.output_text ?? final.output[1].content[0].text, TOOL_TEXT);
});

test('errors: unknown model -> NotFoundError model_not_found (checks 21, 40)', async () => {
  const err = await expectError(
    client.responses.create({ model: 'no-such-agent', input: 'hi' }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(err.code, 'model_not_found');
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.requestID, /^req_/);
  const errStream = await expectError(
    client.responses.create({ model: 'no-such-agent', input: 'hi', stream: true }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(errStream.code, 'model_not_found');
});

const GET_TIME = {
  type: 'function',
  name: 'get_time',
  description: 'The current time in a time zone.',
  parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'], additionalProperties: false },
  strict: true,
};

test('client tool: function_call, then previous_response_id + function_call_output (checks 16-18)', async () => {
  const first = await client.responses.create({ model: SUPPORT, input: `CALL_CLIENT get_time {"tz":"UTC"} ${tag()}`, tools: [GET_TIME] });
  assert.equal(first.status, 'completed');
  assert.deepEqual(first.output.map(o => o.type), ['function_call']);
  const fc = first.output[0];
  assert.match(fc.id, /^fc_/);
  assert.match(fc.call_id, /^call_/);
  assert.equal(fc.name, 'get_time');
  assert.equal(fc.arguments, '{"tz":"UTC"}');
  const second = await client.responses.create({
    model: SUPPORT,
    previous_response_id: first.id,
    input: [{ type: 'function_call_output', call_id: fc.call_id, output: '12:00' }],
    tools: [GET_TIME],
  });
  assert.equal(second.output_text, 'tool get_time returned: "12:00"');
});

test('client tool streamed: function_call_arguments events, finalResponse, streamed continuation (check 16)', async () => {
  const stream = client.responses.stream({ model: SUPPORT, input: `CALL_CLIENT get_time {"tz":"CET"} ${tag()}`, tools: [GET_TIME] });
  const types = [];
  for await (const ev of stream) types.push(ev.type);
  const final = await stream.finalResponse();
  assert.ok(types.includes('response.function_call_arguments.delta'), types.join(','));
  assert.ok(types.indexOf('response.function_call_arguments.done') < types.lastIndexOf('response.output_item.done'));
  assert.equal(final.output[0].type, 'function_call');
  assert.equal(final.output[0].arguments, '{"tz":"CET"}');
  // The whole history replayed, as the AI SDK loop sends it.
  const again = client.responses.stream({
    model: SUPPORT,
    input: [
      { role: 'user', content: 'CALL_CLIENT get_time {"tz":"CET"}' },
      { type: 'function_call', call_id: final.output[0].call_id, name: 'get_time', arguments: final.output[0].arguments },
      { type: 'function_call_output', call_id: final.output[0].call_id, output: '13:00' },
    ],
    tools: [GET_TIME],
  });
  const done = await again.finalResponse();
  assert.equal(done.output_text, 'tool get_time returned: "13:00"');
});

test('errors: an output for no known call, a hosted tool -> BadRequestError naming the field', async () => {
  const err = await expectError(
    client.responses.create({ model: SUPPORT, input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'x' }] }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(err.param, 'input[0]');
  assert.equal(err.type, 'invalid_request_error');
  const hosted = await expectError(
    client.responses.create({ model: SUPPORT, input: 'hi', tools: [{ type: 'web_search' }] }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(hosted.param, 'tools[0]');
});

test('errors: background -> BadRequestError param background; unknown previous_response_id (check 25)', async () => {
  const bg = await expectError(
    client.responses.create({ model: SUPPORT, input: 'hi', background: true }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(bg.param, 'background');
  const prev = await expectError(
    client.responses.create({ model: SUPPORT, input: 'hi', previous_response_id: `resp_${tag()}` }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(prev.param, 'previous_response_id');
  assert.equal(prev.code, 'previous_response_not_found');
});

test('retrieve and delete (check 23)', async () => {
  const created = await client.responses.create({ model: ECHO, input: `keep ${tag()}` });
  const got = await client.responses.retrieve(created.id);
  assert.equal(got.id, created.id);
  assert.equal(got.output_text, created.output_text);
  assert.deepEqual(got.output, created.output);
  const { response } = await client.responses.delete(created.id).withResponse();
  assert.equal(response.status, 200);
  const err = await expectError(client.responses.retrieve(created.id), OpenAI.NotFoundError, 404);
  assert.equal(err.type, 'invalid_request_error');
});

test('store:false is not retrievable (check 24)', async () => {
  const created = await client.responses.create({ model: ECHO, input: `ephemeral ${tag()}`, store: false });
  assert.equal(created.status, 'completed');
  await expectError(client.responses.retrieve(created.id), OpenAI.NotFoundError, 404);
  await expectError(
    client.responses.create({ model: ECHO, input: 'x', previous_response_id: created.id }),
    OpenAI.BadRequestError,
    400,
  );
});

test('previous_response_id chain and conversation param (checks 26, 39)', async () => {
  const first = await client.responses.create({ model: SUPPORT, input: `first ${tag()}` });
  const second = await client.responses.create({
    model: SUPPORT,
    input: `second ${tag()}`,
    previous_response_id: first.id,
  });
  assert.equal(second.previous_response_id, first.id);
  assert.ok(second.usage.input_tokens >= first.usage.input_tokens + 2);

  const r = await fetch(`${MASTRA_URL}/api/v1/conversations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: SUPPORT }),
  });
  assert.equal(r.status, 200);
  const thread = (await r.json()).id;
  const inConv = await client.responses.create({ model: SUPPORT, input: `conv ${tag()}`, conversation: thread });
  assert.deepEqual(inConv.conversation, { id: thread });
  const both = await expectError(
    client.responses.create({ model: SUPPORT, input: 'x', conversation: thread, previous_response_id: first.id }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(both.type, 'invalid_request_error');
  const bogus = `conv_${tag()}`;
  const missing = await expectError(
    client.responses.create({ model: SUPPORT, input: 'x', conversation: bogus }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(missing.error.message, `Conversation with id '${bogus}' not found.`);
});

test('models list / retrieve / unknown (check 44)', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    ids.push(m.id);
  }
  assert.ok(ids.includes(SUPPORT) && ids.includes(ECHO), ids.join(','));
  const m = await client.models.retrieve(ECHO);
  assert.equal(m.id, ECHO);
  const err = await expectError(client.models.retrieve('no-such-agent'), OpenAI.NotFoundError, 404);
  assert.equal(err.code, 'model_not_found');
});
