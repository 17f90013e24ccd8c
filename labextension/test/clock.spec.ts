import { clockOffset, serverTime } from '../src/clock';
import { relativeTime } from '../src/format';

describe('server clock', () => {
  it('is the offset of the server from the client', () => {
    const client = Date.parse('2024-05-01T10:00:00Z');
    expect(clockOffset('2024-05-01T10:00:16Z', client)).toBe(16000);
    expect(clockOffset('2024-05-01T09:59:59', client)).toBe(-1000);
    expect(clockOffset(null, client)).toBeNull();
    expect(clockOffset('not a time', client)).toBeNull();
    expect(serverTime(16000, client)).toBe(client + 16000);
    expect(serverTime(NaN, client)).toBe(client);
  });

  it('shows a new execution as just now, whatever the client clock', () => {
    // the client is 16 s behind the server
    const client = Date.parse('2024-05-01T10:00:00Z');
    const created = '2024-05-01T10:00:16Z';
    const offset = clockOffset('2024-05-01T10:00:17Z', client)!;
    expect(relativeTime(created, serverTime(offset, client))).toBe('just now');
    expect(relativeTime(created, serverTime(offset, client + 60000))).toBe(
      '1 minute ago'
    );
    // even without the offset, a few seconds ahead is not "in 16 seconds"
    expect(relativeTime(created, client)).toBe('just now');
  });
});
