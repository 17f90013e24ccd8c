import { SSEParser, eventJSON, readEvents } from '../src/sse';

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(
          typeof chunk === 'string' ? encoder.encode(chunk) : chunk
        );
      }
      controller.close();
    }
  });
}

async function collect(stream: ReadableStream<Uint8Array>, parser?: SSEParser) {
  const events = [];
  for await (const event of readEvents(stream, parser)) {
    events.push(event);
  }
  return events;
}

describe('SSEParser', () => {
  it('parses typed events with ids', () => {
    const parser = new SSEParser();
    const events = parser.feed(
      'id: 1\nevent: execution\ndata: {"status":"running"}\n\n' +
        'id: 2\nevent: job\ndata: {"op":"a","status":"success"}\n\n'
    );
    expect(events).toEqual([
      { event: 'execution', data: '{"status":"running"}', id: '1' },
      { event: 'job', data: '{"op":"a","status":"success"}', id: '2' }
    ]);
    expect(parser.lastEventId).toBe('2');
  });

  it('defaults the type to message and joins data lines', () => {
    const parser = new SSEParser();
    expect(parser.feed('data: a\ndata:b\ndata\n\n')).toEqual([
      { event: 'message', data: 'a\nb\n', id: '' }
    ]);
  });

  it('handles chunks split anywhere, even inside a CRLF', () => {
    const text =
      'event: log\r\ndata: {"op":"x","offset":0,"text":"hi\\n"}\r\n\r\n' +
      ': keep-alive comment\r\n\r\n' +
      'event: job\rdata: {"op":"x"}\r\r';
    for (let size = 1; size <= text.length; size++) {
      const parser = new SSEParser();
      const events = [];
      for (let i = 0; i < text.length; i += size) {
        events.push(...parser.feed(text.slice(i, i + size)));
      }
      events.push(...parser.finish());
      expect(events.map(e => e.event)).toEqual(['log', 'job']);
      expect(eventJSON(events[0])).toEqual({
        op: 'x',
        offset: 0,
        text: 'hi\n'
      });
    }
  });

  it('keeps the last id for events without one (log events)', () => {
    const parser = new SSEParser();
    const events = parser.feed(
      'id: 7\nevent: job\ndata: {}\n\nevent: log\ndata: {}\n\n'
    );
    expect(events[1].id).toBe('7');
    expect(parser.lastEventId).toBe('7');
  });

  it('ignores comments, unknown fields, empty events; reads retry', () => {
    const parser = new SSEParser();
    const events = parser.feed(
      ':comment\nfoo: bar\n\nretry: 2500\nretry: x\nevent: e\n\ndata: 1\n\n'
    );
    expect(events).toEqual([
      { event: 'message', data: '1', id: '', retry: 2500 }
    ]);
    expect(parser.retry).toBe(2500);
  });

  it('drops an unterminated event at the end of the stream', () => {
    const parser = new SSEParser();
    expect(parser.feed('data: partial\n')).toEqual([]);
    expect(parser.finish()).toEqual([]);
    expect(parser.feed('data: next\n\n')).toEqual([
      { event: 'message', data: 'next', id: '' }
    ]);
  });

  it('strips a leading BOM and only one space after the colon', () => {
    const parser = new SSEParser();
    expect(parser.feed('\ufeffdata:  two spaces\n\n')).toEqual([
      { event: 'message', data: ' two spaces', id: '' }
    ]);
  });

  it('an empty id resets the last event id', () => {
    const parser = new SSEParser();
    parser.feed('id: 3\ndata: a\n\n');
    expect(parser.feed('id\ndata: b\n\n')[0].id).toBe('');
  });
});

describe('readEvents', () => {
  it('decodes UTF-8 split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: é✓\n\n');
    const chunks = Array.from(bytes).map(b => new Uint8Array([b]));
    const events = await collect(streamOf(chunks));
    expect(events).toEqual([{ event: 'message', data: 'é✓', id: '' }]);
  });

  it('yields events of a stream and ends with it', async () => {
    const parser = new SSEParser();
    const events = await collect(
      streamOf([
        'id: 1\nevent: execu',
        'tion\ndata: {"a":1}\n\nevent: log\n',
        'data: {}\r'
      ]),
      parser
    );
    expect(events.map(e => e.event)).toEqual(['execution']);
    expect(parser.lastEventId).toBe('1');
  });

  it('stops when the signal aborts', async () => {
    let pull = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pull++;
        controller.enqueue(new TextEncoder().encode(`data: ${pull}\n\n`));
      }
    });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const event of readEvents(
      stream,
      undefined,
      controller.signal
    )) {
      seen.push(event.data);
      if (seen.length === 3) {
        controller.abort();
      }
    }
    expect(seen).toEqual(['1', '2', '3']);
  });
});

describe('eventJSON', () => {
  it('returns null for non-JSON data', () => {
    expect(eventJSON({ event: 'x', data: 'not json', id: '' })).toBeNull();
  });
});
