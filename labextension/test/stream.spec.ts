import { ExecutionStream, IStreamHandlers } from '../src/stream';

function response(text: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    }
  });
  return { body, ok: true, status: 200 } as unknown as Response;
}

function recorder() {
  const seen: string[] = [];
  const handlers: IStreamHandlers = {
    execution: d => seen.push(`execution:${d.status}`),
    job: d => seen.push(`job:${d.op}:${d.status}`),
    log: d => seen.push(`log:${d.op}:${d.offset}:${d.text}`),
    open: reconnect => seen.push(`open:${reconnect}`),
    error: (e, fatal) => seen.push(`error:${fatal}:${e.message}`)
  };
  return { seen, handlers };
}

describe('ExecutionStream', () => {
  it('dispatches events and stops when the execution is done', async () => {
    const { seen, handlers } = recorder();
    let done = false;
    const open = jest.fn(async () => {
      done = true;
      return response(
        'id: 1\nevent: job\ndata: {"op":"a","status":"running"}\n\n' +
          'event: log\ndata: {"op":"a","offset":0,"text":"hello\\n"}\n\n' +
          'event: log\ndata: {"op":"a","text":"no offset"}\n\n' +
          'event: log\ndata: not json\n\n' +
          'event: unknown\ndata: {}\n\n' +
          'id: 2\nevent: execution\ndata: {"status":"success"}\n\n'
      );
    });
    await new ExecutionStream(open, handlers, { isDone: () => done }).start();
    expect(open).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([
      'open:false',
      'job:a:running',
      'log:a:0:hello\n',
      'log:a:NaN:no offset',
      'execution:success'
    ]);
  });

  it('reconnects with Last-Event-ID while the execution runs', async () => {
    const { seen, handlers } = recorder();
    const ids: string[] = [];
    let calls = 0;
    const open = async (lastEventId: string) => {
      ids.push(lastEventId);
      calls++;
      if (calls === 1) {
        return response(
          'id: 5\nevent: job\ndata: {"op":"a","status":"running"}\n\n'
        );
      }
      if (calls === 2) {
        throw Object.assign(new Error('gateway'), { status: 502 });
      }
      return response('id: 6\nevent: execution\ndata: {"status":"failed"}\n\n');
    };
    await new ExecutionStream(open, handlers, {
      isDone: () => seen.includes('execution:failed'),
      retryDelay: 1
    }).start();
    expect(ids).toEqual(['', '5', '5']);
    expect(seen).toEqual([
      'open:false',
      'job:a:running',
      'error:false:gateway',
      'open:true',
      'execution:failed'
    ]);
  });

  it('gives up on a 4xx answer', async () => {
    const { seen, handlers } = recorder();
    const open = jest.fn(async () => {
      throw Object.assign(new Error('no such execution'), { status: 404 });
    });
    await new ExecutionStream(open, handlers, { isDone: () => false }).start();
    expect(open).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(['error:true:no such execution']);
  });

  it('stops when asked', async () => {
    const { handlers } = recorder();
    const open = jest.fn(
      (_id: string, signal: AbortSignal) =>
        new Promise<Response>((_, reject) => {
          signal.addEventListener('abort', () =>
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))
          );
        })
    );
    const stream = new ExecutionStream(open, handlers, { isDone: () => false });
    const done = stream.start();
    expect(stream.running).toBe(true);
    stream.stop();
    await done;
    expect(stream.running).toBe(false);
    expect(open).toHaveBeenCalledTimes(1);
  });
});
