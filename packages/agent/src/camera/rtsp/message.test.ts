import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RTSP_LIMITS } from './limits.js';
import { RtspReader, type RtspMessage } from './message.js';
import { parseSdp } from './sdp.js';

function reader(limits = DEFAULT_RTSP_LIMITS): { r: RtspReader; messages: RtspMessage[]; frames: [number, Buffer][] } {
  const messages: RtspMessage[] = [];
  const frames: [number, Buffer][] = [];
  const r = new RtspReader(limits, { message: (m) => messages.push(m), interleaved: (c, p) => frames.push([c, Buffer.from(p)]) });
  return { r, messages, frames };
}

const REPLY =
  'RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\nWWW-Authenticate: a\r\nwww-authenticate: b\r\n\r\nv=0\r\n';

test('replies and interleaved frames are split correctly, even one byte at a time', () => {
  const wire = Buffer.concat([
    Buffer.from(REPLY),
    Buffer.from([0x24, 0, 0, 3, 1, 2, 3]),
    Buffer.from('\r\nGET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\n\r\n'),
    Buffer.from([0x24, 1, 0, 0]),
  ]);
  for (const step of [wire.length, 1, 7]) {
    const { r, messages, frames } = reader();
    for (let i = 0; i < wire.length; i += step) r.push(wire.subarray(i, i + step));
    assert.equal(messages.length, 2);
    const [reply, request] = messages;
    assert.ok(reply?.kind === 'response');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'v=0\r\n');
    assert.deepEqual(reply.headers.all('WWW-AUTHENTICATE'), ['a', 'b']);
    assert.ok(request?.kind === 'request');
    assert.equal(request.method, 'GET_PARAMETER');
    assert.deepEqual(frames, [
      [0, Buffer.from([1, 2, 3])],
      [1, Buffer.alloc(0)],
    ]);
  }
});

test('caps: line length, header count, body size, interleaved size, unparsed bytes', () => {
  const cases: [string, Buffer, Partial<typeof DEFAULT_RTSP_LIMITS>][] = [
    ['long line', Buffer.from(`RTSP/1.0 200 OK\r\nX: ${'a'.repeat(9000)}`), {}],
    ['long line without newline', Buffer.from(`RTSP/1.0 200 OK${'a'.repeat(9000)}`), {}],
    ['too many headers', Buffer.from(`RTSP/1.0 200 OK\r\n${'X: 1\r\n'.repeat(65)}`), {}],
    ['huge body', Buffer.from('RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n'), {}],
    ['bad content length', Buffer.from('RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n'), {}],
    ['interleaved over cap', Buffer.from([0x24, 0, 0xff, 0xff]), { maxInterleavedFrame: 1500 }],
    ['not RTSP', Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), {}],
    ['binary garbage', Buffer.from([0x00, 0x01, 0x0a]), {}],
    ['header without name', Buffer.from('RTSP/1.0 200 OK\r\n: x\r\n\r\n'), {}],
    ['control character in value', Buffer.from('RTSP/1.0 200 OK\r\nSession: a\x01b\r\n\r\n'), {}],
    ['too much buffered', Buffer.from(`RTSP/1.0 200 OK\r\n${'X: 1234567\r\n'.repeat(60)}`), { maxBuffered: 500 }],
  ];
  for (const [label, bytes, limits] of cases) {
    const { r } = reader({ ...DEFAULT_RTSP_LIMITS, ...limits });
    assert.throws(() => r.push(bytes), { code: 'RTSP_PROTOCOL_ERROR' }, label);
  }
});

const GST_SDP = [
  'v=0',
  'o=- 1188340656180883 1 IN IP4 127.0.0.1',
  's=Session streamed with GStreamer',
  't=0 0',
  'a=tool:GStreamer',
  'a=type:broadcast',
  'a=range:npt=now-',
  'a=control:rtsp://127.0.0.1:8554/stream',
  'm=audio 0 RTP/AVP 0',
  'a=control:stream=1',
  'm=video 0 RTP/AVP 96',
  'c=IN IP4 0.0.0.0',
  'a=rtpmap:96 H264/90000',
  'a=framerate:10',
  'a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHtoDAD2wEQAAAwABAAADADIPFi6g,aM48gA==;profile-level-id=42C01E;level-asymmetry-allowed=1',
  'a=control:stream=0',
  '',
].join('\r\n');

test('SDP: the H.264 track, its parameter sets and control URLs', () => {
  const sdp = parseSdp(GST_SDP);
  assert.equal(sdp.control, 'rtsp://127.0.0.1:8554/stream');
  assert.equal(sdp.video.payloadType, 96);
  assert.equal(sdp.video.clockRate, 90000);
  assert.equal(sdp.video.control, 'stream=0');
  assert.equal(sdp.video.packetizationMode, 1);
  assert.deepEqual(
    sdp.video.parameterSets.map((p) => (p[0] ?? 0) & 0x1f),
    [7, 8],
  );
});

test('SDP: refusals', () => {
  assert.throws(() => parseSdp('hello'), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => parseSdp('v=0\r\nnot a line\r\n'), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => parseSdp('v=0\n'.repeat(600)), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => parseSdp(GST_SDP.replace('aM48gA==', '!!!')), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => parseSdp(GST_SDP.replace('aM48gA==', 'ZQ==')), { code: 'RTSP_PROTOCOL_ERROR' }, 'an IDR in sprop');
  assert.throws(() => parseSdp(GST_SDP.replace('H264/90000', 'H265/90000')), { code: 'RTSP_UNSUPPORTED_MEDIA' });
  assert.throws(() => parseSdp(GST_SDP.replace('packetization-mode=1', 'packetization-mode=2')), { code: 'RTSP_UNSUPPORTED_MEDIA' });
  assert.throws(() => parseSdp('v=0\r\nm=audio 0 RTP/AVP 0\r\n'), { code: 'RTSP_UNSUPPORTED_MEDIA' });
});
