// Group client_tools (issue 16): client-defined function tools (AI SDK `tool({... execute})`)
// and history replay. "CALL_CLIENT get_time {...}" makes the mock model call the offered tool;
// once its result is back it answers "tool get_time returned: <output>". Each test counts the
// local executions: exactly one, and the final answer carries the tool's output.
// Run: GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 node --test client_tools.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, stepCountIs } from 'ai';
import {
  openai, SUPPORT, CALL_CLIENT_GET_TIME, TEST_TIMEOUT, callOptions, tag, allParts,
  assertNoToolErrors, drain, brief, getTimeTool, assertTimeAnswer,
} from './helpers.mjs';

describe('client_tools (issue 16)', () => {
  test('ai-sdk responses generateText: client tool with execute', { timeout: TEST_TIMEOUT }, async () => {
    const calls = [];
    const result = await generateText({
      model: openai.responses(SUPPORT),
      prompt: CALL_CLIENT_GET_TIME,
      tools: { get_time: getTimeTool(calls) },
      stopWhen: stepCountIs(3),
      ...callOptions(),
    });
    assertNoToolErrors(allParts(result.steps));
    assert.deepEqual(calls, ['UTC']);
    assert.equal(result.steps.length, 2, brief(result.steps.map(s => s.finishReason)));
    assert.equal(result.finishReason, 'stop');
    assertTimeAnswer(result.text);
  });

  test('ai-sdk responses streamText: client tool with execute', { timeout: TEST_TIMEOUT }, async () => {
    const calls = [];
    const result = streamText({
      model: openai.responses(SUPPORT),
      prompt: CALL_CLIENT_GET_TIME,
      tools: { get_time: getTimeTool(calls) },
      stopWhen: stepCountIs(3),
      ...callOptions(),
    });
    const parts = await drain(result);
    assertNoToolErrors(parts);
    assert.deepEqual(calls, ['UTC']);
    assert.equal((await result.steps).length, 2);
    assert.equal(await result.finishReason, 'stop');
    assertTimeAnswer(await result.text);
  });

  // The second call replays the first turn's messages as the AI SDK keeps them
  // (result.response.messages): with store (the default) the assistant's text comes back as an
  // `item_reference` to the stored message id, the client tool call as a `function_call` and its
  // result as a `function_call_output`.
  test('ai-sdk responses generateText: multi-turn replay after a client tool', { timeout: TEST_TIMEOUT }, async () => {
    const calls = [];
    const tools = { get_time: getTimeTool(calls) };
    const firstMessages = [{ role: 'user', content: CALL_CLIENT_GET_TIME }];
    const first = await generateText({
      model: openai.responses(SUPPORT), messages: firstMessages, tools, stopWhen: stepCountIs(3), ...callOptions(),
    });
    assertTimeAnswer(first.text);
    const word = tag();
    const second = await generateText({
      model: openai.responses(SUPPORT),
      messages: [...firstMessages, ...first.response.messages, { role: 'user', content: `hello again ${word}` }],
      tools,
      stopWhen: stepCountIs(3),
      ...callOptions(),
    });
    assertNoToolErrors(allParts(second.steps));
    assert.deepEqual(calls, ['UTC'], 'get_time ran again on the replayed history');
    assert.equal(second.finishReason, 'stop');
    assert.equal(second.text, `echo: hello again ${word}`);
  });
});
