import {
  EMPTY_LOG,
  ILogBuffer,
  appendChunk,
  capLog,
  limitChars,
  logCut,
  logEnd,
  logFromText
} from '../src/logbuffer';

const BIG = 1 << 30;

function log(text: string, start = 0): ILogBuffer {
  return { text, start, dropped: start, skipped: 0 };
}

describe('appendChunk (offsets)', () => {
  it('appends at the end', () => {
    expect(appendChunk(log('abc'), 3, 'de', BIG)).toEqual({
      buffer: log('abcde'),
      gap: false
    });
  });

  it('skips what it already has', () => {
    const same = log('abcde');
    expect(appendChunk(same, 2, 'cd', BIG).buffer).toBe(same);
    expect(appendChunk(log('abcde'), 3, 'defg', BIG).buffer.text).toBe(
      'abcdefg'
    );
  });

  it('reports a gap, keeping the end where the chunk says', () => {
    const { buffer, gap } = appendChunk(log('ab'), 5, 'xy', BIG);
    expect(gap).toBe(true);
    expect(buffer.text).toBe('abxy');
    expect(logEnd(buffer)).toBe(7);
  });

  it('appends when there is no offset', () => {
    expect(appendChunk(log('ab'), undefined, 'c', BIG).buffer.text).toBe('abc');
    expect(appendChunk(log('ab'), NaN, 'c', BIG).buffer.text).toBe('abc');
  });

  it('takes a chunk after a cut by the server without a gap, counting it', () => {
    const { buffer, gap } = appendChunk(log('ab'), 1002, 'xy', BIG, 1000);
    expect(gap).toBe(false);
    expect(buffer.skipped).toBe(1000);
    expect(logEnd(buffer)).toBe(1004);
    // the cut counted where the chunk continues the log, too
    const again = appendChunk(buffer, 1004, 'z', BIG, 10).buffer;
    expect(again.text).toBe('abxyz');
    expect(logCut(again)).toBe(1010);
  });
});

describe('log caps', () => {
  it('computes the limit in characters', () => {
    expect(limitChars(1)).toBe(1024);
    expect(limitChars(undefined)).toBe(1024 * 1024);
    expect(limitChars(-5)).toBe(1024 * 1024);
  });

  it('drops the oldest text, at a line start when near', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join('');
    const capped = capLog(log(lines), 100);
    expect(capped.text.length).toBeLessThanOrEqual(100);
    expect(capped.text.startsWith('line ')).toBe(true);
    expect(capped.dropped + capped.text.length).toBe(lines.length);
    expect(logEnd(capped)).toBe(lines.length);
  });

  it('keeps streaming after the cap with consistent offsets', () => {
    let buffer = EMPTY_LOG;
    let offset = 0;
    for (let i = 0; i < 50; i++) {
      const chunk = `${String(i).padStart(3, '0')} ${'x'.repeat(45)}\n`;
      buffer = appendChunk(buffer, offset, chunk, 500).buffer;
      offset += chunk.length;
    }
    expect(buffer.text.length).toBeLessThanOrEqual(500);
    expect(logEnd(buffer)).toBe(offset);
    expect(buffer.text.endsWith(`049 ${'x'.repeat(45)}\n`)).toBe(true);
    expect(logCut(buffer)).toBe(offset - buffer.text.length);
    // a chunk seen again after a reconnect is still skipped
    expect(
      appendChunk(buffer, offset - 10, 'x'.repeat(9) + '\n', 500).buffer
    ).toBe(buffer);
  });

  it('caps a fetched log', () => {
    const b = logFromText('a'.repeat(3000), 1024);
    expect(b.text.length).toBe(1024);
    expect(b.dropped).toBe(1976);
    expect(logFromText('short', 1024)).toEqual(log('short'));
  });
});

describe('appendChunk (bytes, as the server counts)', () => {
  it('places chunks of non-ASCII text by their UTF-8 byte offsets', () => {
    let buffer = appendChunk(EMPTY_LOG, 0, 'héllo\n', 1024).buffer;
    expect(logEnd(buffer)).toBe(7); // é is two bytes
    buffer = appendChunk(buffer, 7, 'wörld\n', 1024).buffer;
    expect(buffer.text).toBe('héllo\nwörld\n');
    // a chunk seen again after a reconnect, overlapping by the bytes of "wö"
    const again = appendChunk(buffer, 7, 'wörld\nnext\n', 1024);
    expect(again.gap).toBe(false);
    expect(again.buffer.text).toBe('héllo\nwörld\nnext\n');
  });
});
