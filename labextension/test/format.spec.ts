import {
  filenameOf,
  formatBytes,
  formatDuration,
  liveDuration,
  parseTime,
  relativeTime,
  shortCommit
} from '../src/format';

const NOW = Date.parse('2024-05-01T12:00:00Z');

describe('formatDuration', () => {
  it.each([
    [null, ''],
    [undefined, ''],
    [-1, ''],
    [NaN, ''],
    [0, '0s'],
    [0.42, '0.4s'],
    [3, '3s'],
    [9.95, '9.9s'],
    [12.7, '12s'],
    [59, '59s'],
    [60, '1m 00s'],
    [185, '3m 05s'],
    [3600, '1h 00m'],
    [7380, '2h 03m'],
    [86400 * 3 + 3600 * 4, '3d 4h']
  ])('%p -> %p', (seconds, text) => {
    expect(formatDuration(seconds as number | null)).toBe(text);
  });
});

describe('relativeTime', () => {
  it.each([
    ['2024-05-01T12:00:00Z', 'just now'],
    ['2024-05-01T11:59:58Z', 'just now'],
    ['2024-05-01T11:59:30Z', '30 seconds ago'],
    ['2024-05-01T11:59:00Z', '1 minute ago'],
    ['2024-05-01T11:00:00Z', '1 hour ago'],
    ['2024-04-30T10:00:00Z', '1 day ago'],
    ['2024-04-17T12:00:00Z', '2 weeks ago'],
    ['2024-02-01T12:00:00Z', '2 months ago'],
    ['2022-05-01T12:00:00Z', '2 years ago'],
    ['2024-05-01T12:10:00Z', 'in 10 minutes'],
    ['2024-05-01T11:00:00+00:00', '1 hour ago'],
    ['2024-05-01T13:00:00+02:00', '1 hour ago']
  ])('%s -> %s', (iso, text) => {
    expect(relativeTime(iso, NOW)).toBe(text);
  });

  it('is empty for a missing or bad time', () => {
    expect(relativeTime(null, NOW)).toBe('');
    expect(relativeTime('yesterday', NOW)).toBe('');
  });

  it('takes a time without zone as UTC', () => {
    expect(parseTime('2024-05-01T11:00:00')).toBe(
      Date.parse('2024-05-01T11:00:00Z')
    );
    expect(relativeTime('2024-05-01T11:00:00.123456', NOW)).toBe(
      '59 minutes ago'
    );
  });
});

describe('liveDuration', () => {
  it('ticks while running', () => {
    const job = {
      started: '2024-05-01T11:59:00Z',
      ended: null,
      duration: null
    };
    expect(liveDuration(job, NOW)).toBe(60);
    expect(liveDuration(job, NOW + 5000)).toBe(65);
  });

  it('prefers the server duration once ended', () => {
    expect(
      liveDuration(
        {
          started: '2024-05-01T11:59:00Z',
          ended: '2024-05-01T11:59:10Z',
          duration: 9.5
        },
        NOW
      )
    ).toBe(9.5);
    expect(
      liveDuration(
        {
          started: '2024-05-01T11:59:00Z',
          ended: '2024-05-01T11:59:10Z',
          duration: null
        },
        NOW
      )
    ).toBe(10);
  });

  it('is null when not started', () => {
    expect(
      liveDuration({ started: null, ended: null, duration: null }, NOW)
    ).toBeNull();
  });
});

describe('formatBytes', () => {
  it.each([
    [null, ''],
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [5 * 1024 * 1024, '5.0 MiB'],
    [3 * 1024 ** 3, '3.0 GiB']
  ])('%p -> %p', (size, text) => {
    expect(formatBytes(size as number | null)).toBe(text);
  });
});

describe('filenameOf', () => {
  it.each([
    [null, null],
    ['attachment', null],
    ['attachment; filename="demo.zip"', 'demo.zip'],
    ['attachment; filename=demo.zip', 'demo.zip'],
    ["attachment; filename*=UTF-8''d%C3%A9mo.zip", 'démo.zip'],
    ['attachment; filename="x.zip"; filename*=UTF-8\'\'y.zip', 'y.zip']
  ])('%p -> %p', (header, name) => {
    expect(filenameOf(header)).toBe(name);
  });
});

it('shortCommit', () => {
  expect(shortCommit('0123456789abcdef0123')).toBe('0123456789ab');
  expect(shortCommit(null)).toBe('');
});
