import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H264Depacketizer, parseRtp, type AccessUnit, type RtpPacket } from './h264.js';
import { DEFAULT_RTSP_LIMITS } from './limits.js';

const SC = Buffer.from([0, 0, 0, 1]);
const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xaa]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
const IDR = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(3000, 0xab)]);
const P = Buffer.from([0x41, 1, 2, 3]);

function pkt(seq: number, ts: number, payload: Buffer, marker = false, ssrc = 7): RtpPacket {
  return { payloadType: 96, marker, sequence: seq & 0xffff, timestamp: ts, ssrc, payload };
}

function collect(parameterSets: Buffer[] = [], limits = DEFAULT_RTSP_LIMITS): { d: H264Depacketizer; out: AccessUnit[] } {
  const out: AccessUnit[] = [];
  return { d: new H264Depacketizer(limits, parameterSets, (au) => out.push(au)), out };
}

function fuA(nal: Buffer, size: number): Buffer[] {
  const indicator = ((nal[0] ?? 0) & 0xe0) | 28;
  const type = (nal[0] ?? 0) & 0x1f;
  const body = nal.subarray(1);
  const parts: Buffer[] = [];
  for (let off = 0; off < body.length; off += size) {
    const s = off === 0 ? 0x80 : 0;
    const e = off + size >= body.length ? 0x40 : 0;
    parts.push(Buffer.concat([Buffer.from([indicator, s | e | type]), body.subarray(off, off + size)]));
  }
  return parts;
}

test('RTP header: CSRCs, extension and padding are skipped (RFC 3550 5.1, 5.3.1)', () => {
  const header = Buffer.from([0xb1, 0xe0, 0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 7]); // V=2 P=1 X=1 CC=1, M=1 PT=96
  const csrc = Buffer.alloc(4, 1);
  const ext = Buffer.from([0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
  const packet = Buffer.concat([header, csrc, ext, P, Buffer.from([0, 0, 3])]);
  const p = parseRtp(packet);
  assert.deepEqual([p.payloadType, p.marker, p.sequence, p.timestamp, p.ssrc], [96, true, 0x1234, 9, 7]);
  assert.deepEqual(p.payload, P);
});

test('malformed RTP is a protocol error, not a crash', () => {
  for (const bad of [
    Buffer.alloc(5),
    Buffer.from([0x40, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from([0x8f, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from([0xa0, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0]),
  ]) {
    assert.throws(() => parseRtp(bad), { code: 'RTSP_PROTOCOL_ERROR' });
  }
});

test('single NAL, STAP-A and FU-A become Annex-B access units split by timestamp and marker', () => {
  const { d, out } = collect();
  const stap = Buffer.concat([Buffer.from([0x78, 0, SPS.length]), SPS, Buffer.from([0, PPS.length]), PPS]);
  d.push(pkt(1, 1000, stap));
  const frags = fuA(IDR, 1000);
  frags.forEach((f, i) => d.push(pkt(2 + i, 1000, f, i === frags.length - 1)));
  d.push(pkt(10, 4000, P, true));
  assert.equal(out.length, 2);
  assert.deepEqual(out[0]?.data, Buffer.concat([SC, SPS, SC, PPS, SC, IDR]));
  assert.equal(out[0]?.keyframe, true);
  assert.deepEqual(out[1]?.data, Buffer.concat([SC, P]));
  assert.equal(out[1]?.keyframe, false);
  // Without a marker, a new timestamp closes the previous picture.
  d.push(pkt(11, 7000, P));
  d.push(pkt(12, 10000, P));
  assert.equal(out.length, 3);
});

test('SDP parameter sets go before an IDR that lacks them', () => {
  const { d, out } = collect([SPS, PPS]);
  d.push(pkt(1, 0, IDR, true));
  assert.deepEqual(out[0]?.data, Buffer.concat([SC, SPS, SC, PPS, SC, IDR]));
  d.push(pkt(2, 3000, P, true));
  assert.deepEqual(out[1]?.data, Buffer.concat([SC, P]));
});

test('a lost FU-A fragment drops that NAL unit only, and is counted', () => {
  const { d, out } = collect();
  const frags = fuA(IDR, 500);
  frags.forEach((f, i) => {
    if (i !== 2) d.push(pkt(100 + i, 0, f, i === frags.length - 1));
  });
  d.push(pkt(200, 3000, P, true));
  assert.equal(d.stats.lost, 2);
  assert.deepEqual(
    out.map((a) => a.data),
    [Buffer.concat([SC, P])],
  );
});

test('sequence numbers wrap at 65535 without counting a loss', () => {
  const { d } = collect();
  d.push(pkt(65535, 0, P, true));
  d.push(pkt(0, 3000, P, true));
  assert.equal(d.stats.lost, 0);
});

test('caps: an oversized NAL, picture or NAL count is refused with RTSP_PROTOCOL_ERROR', () => {
  const small = { ...DEFAULT_RTSP_LIMITS, maxNal: 2000, maxAccessUnit: 5000, maxNalsPerAccessUnit: 4 };
  const a = collect([], small);
  assert.throws(() => fuA(IDR, 400).forEach((f, i) => a.d.push(pkt(i, 0, f))), { code: 'RTSP_PROTOCOL_ERROR' });
  const b = collect([], small);
  assert.throws(() => [0, 1, 2, 3].forEach((i) => b.d.push(pkt(i, 0, Buffer.concat([Buffer.from([0x41]), Buffer.alloc(1500)])))), {
    code: 'RTSP_PROTOCOL_ERROR',
  });
  const c = collect([], small);
  assert.throws(() => [0, 1, 2, 3, 4].forEach((i) => c.d.push(pkt(i, 0, P))), { code: 'RTSP_PROTOCOL_ERROR' });
  const e = collect();
  assert.throws(() => e.d.push(pkt(0, 0, Buffer.from([0x78, 0, 9, 0x41]))), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => e.d.push(pkt(1, 0, Buffer.from([0xc1, 1]))), { code: 'RTSP_PROTOCOL_ERROR' }, 'forbidden bit');
});

test('interleaved packetization (STAP-B, MTAP, FU-B) is refused as unsupported media', () => {
  for (const type of [25, 26, 27, 29]) {
    const { d } = collect();
    assert.throws(() => d.push(pkt(0, 0, Buffer.from([0x60 | type, 0, 0, 0]))), { code: 'RTSP_UNSUPPORTED_MEDIA' });
  }
});

test('a new SSRC starts clean', () => {
  const { d, out } = collect();
  d.push(pkt(1, 0, fuA(IDR, 1000)[0] ?? Buffer.alloc(0)));
  d.push(pkt(500, 90, P, true, 8));
  assert.equal(d.stats.lost, 0);
  assert.deepEqual(
    out.map((a) => a.data),
    [Buffer.concat([SC, P])],
  );
});
