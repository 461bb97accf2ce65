// Group server_tools (issue 15): a turn in which Mastra ran its own tool (get_weather on
// support-agent, prompt "CALL_TOOL Rome") must reach the AI SDK as a tool the server ran, so
// that it neither tries to run it nor rejects it. Plus plain text turns (sanity).
// Run: GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 node --test server_tools.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText } from 'ai';
import {
  openai, SUPPORT, WEATHER_ANSWER, TEST_TIMEOUT, callOptions, tag, allParts, assertNoToolErrors, drain, brief,
} from './helpers.mjs';

describe('server_tools (issue 15)', () => {
  test('ai-sdk responses generateText: plain text turn', { timeout: TEST_TIMEOUT }, async () => {
    const word = tag();
    const result = await generateText({ model: openai.responses(SUPPORT), prompt: `hello ${word}`, ...callOptions() });
    assert.equal(result.text, `echo: hello ${word}`);
    assert.equal(result.finishReason, 'stop');
  });

  test('ai-sdk responses streamText: plain text turn', { timeout: TEST_TIMEOUT }, async () => {
    const word = tag();
    const result = streamText({ model: openai.responses(SUPPORT), prompt: `hello ${word}`, ...callOptions() });
    const parts = await drain(result);
    assertNoToolErrors(parts);
    assert.equal(await result.text, `echo: hello ${word}`);
    assert.equal(await result.finishReason, 'stop');
  });

  // Today: AI_APICallError "Invalid JSON response": the non-stream Response schema of
  // @ai-sdk/openai (openaiResponsesResponseSchema, a discriminated union over output[].type
  // without a fallback) has no `function_call_output` output item.
  test('ai-sdk responses generateText: server tool turn', { timeout: TEST_TIMEOUT }, async () => {
    const result = await generateText({ model: openai.responses(SUPPORT), prompt: 'CALL_TOOL Rome', ...callOptions() });
    const parts = allParts(result.steps);
    assertNoToolErrors(parts);
    assert.equal(result.finishReason, 'stop', brief(parts));
    assert.equal(result.steps.length, 1);
    assert.match(result.text, new RegExp(WEATHER_ANSWER));
    assert.match(result.text, /Rome/);
  });

  // Today: the `function_call` item becomes a tool-call for a tool the SDK does not have
  // (NoSuchToolError -> a tool-error part) and the finish reason is 'tool-calls'.
  test('ai-sdk responses streamText: server tool turn', { timeout: TEST_TIMEOUT }, async () => {
    const result = streamText({ model: openai.responses(SUPPORT), prompt: 'CALL_TOOL Rome', ...callOptions() });
    const parts = await drain(result);
    assertNoToolErrors(parts);
    assert.equal(await result.finishReason, 'stop', brief(parts.filter(p => p.type.startsWith('tool'))));
    assert.match(await result.text, new RegExp(WEATHER_ANSWER));
    assert.match(await result.text, /Rome/);
  });

  // The next call replays the first turn as the AI SDK keeps it (result.response.messages); with
  // store (the default) @ai-sdk/openai sends the server tool's result and the answer as
  // `item_reference`s to their item ids.
  test('ai-sdk responses generateText: multi-turn replay after a server tool turn', { timeout: TEST_TIMEOUT }, async () => {
    const firstMessages = [{ role: 'user', content: 'CALL_TOOL Rome' }];
    const first = await generateText({ model: openai.responses(SUPPORT), messages: firstMessages, ...callOptions() });
    assert.match(first.text, new RegExp(WEATHER_ANSWER));
    const word = tag();
    const second = await generateText({
      model: openai.responses(SUPPORT),
      messages: [...firstMessages, ...first.response.messages, { role: 'user', content: `hello again ${word}` }],
      ...callOptions(),
    });
    assertNoToolErrors(allParts(second.steps));
    assert.equal(second.finishReason, 'stop');
    assert.equal(second.text, `echo: hello again ${word}`);
  });
});
