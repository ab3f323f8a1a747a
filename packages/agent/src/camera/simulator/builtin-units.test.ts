import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CameraCredentials } from '../credentials.js';
import { chooseAuthenticator, parseChallenges } from '../rtsp/auth.js';
import { H264Depacketizer, parseRtp, type AccessUnit } from '../rtsp/h264.js';
import { DEFAULT_RTSP_LIMITS } from '../rtsp/limits.js';
import { AccessUnitAssembler, AnnexBSplitter, type AnnexBAccessUnit } from './annexb.js';
import { packetizeAccessUnit, rtcpSenderReport, writeRtpHeader } from './rtp-packetizer.js';
import { RtspServerAuth } from './server-auth.js';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xa1]);
const PPS = Buffer.from([0x68, 0xcb, 0x83, 0xcb, 0x20]);
/** An IDR slice with first_mb_in_slice 0 (first bit 1), `n` bytes long, with no 00 00 0x sequences. */
function slice(type: 1 | 5, n: number, first = true, fill = 0x5a): Buffer {
  const b = Buffer.alloc(n, fill);
  b[0] = type === 5 ? 0x65 : 0x41;
  b[1] = first ? 0x88 : 0x08;
  return b;
}

function annexB(nals: Buffer[], four = true): Buffer {
  return Buffer.concat(nals.flatMap((n) => [Buffer.from(four ? [0, 0, 0, 1] : [0, 0, 1]), n]));
}

test('Annex-B: NAL units split at 3- and 4-byte start codes across any chunking, grouped into pictures (H.264 7.4.1.2.3)', () => {
  const idr = slice(5, 3000);
  const p1 = slice(1, 700);
  const p1b = slice(1, 300, false, 0x33); // a second slice of the same picture
  const p2 = slice(1, 500, true, 0x44);
  const stream = Buffer.concat([annexB([SPS, PPS, idr]), annexB([p1], false), annexB([p1b, p2])]);
  for (const step of [1, 2, 3, 7, 1000, stream.length]) {
    const aus: AnnexBAccessUnit[] = [];
    const asm = new AccessUnitAssembler(DEFAULT_RTSP_LIMITS, (au) => aus.push(au));
    const split = new AnnexBSplitter(1 << 20, (nal, at) => asm.push(nal, at));
    for (let i = 0; i < stream.length; i += step) split.push(stream.subarray(i, i + step), i);
    split.end();
    asm.flush();
    assert.equal(aus.length, 3, `chunks of ${step}`);
    assert.deepEqual(aus[0]?.nals, [SPS, PPS, idr]);
    assert.equal(aus[0]?.keyframe, true);
    assert.deepEqual(aus[1]?.nals, [p1, p1b]);
    assert.equal(aus[1]?.keyframe, false);
    assert.deepEqual(aus[2]?.nals, [p2]);
  }
});

test('Annex-B: a run longer than the NAL cap without a start code throws', () => {
  const split = new AnnexBSplitter(1000, () => undefined);
  split.push(Buffer.from([0, 0, 1, 0x65]), 0);
  assert.throws(() => split.push(Buffer.alloc(2000, 0x11), 1), /over 1000 bytes/);
});

test('RTP: single NAL packets and FU-A under the payload cap; the agent depacketizer rebuilds the same picture (RFC 6184 5.6, 5.8)', () => {
  const idr = slice(5, 5000);
  const payloads = packetizeAccessUnit([SPS, PPS, idr], 1400);
  assert.ok(payloads.every((p) => p.reduce((n, b) => n + b.length, 0) <= 1400));
  assert.equal(payloads.length, 2 + Math.ceil((idr.length - 1) / 1398));
  const fu = payloads.slice(2).map((p) => Buffer.concat(p));
  assert.ok(fu.every((p) => ((p[0] ?? 0) & 0x1f) === 28 && ((p[0] ?? 0) & 0xe0) === ((idr[0] ?? 0) & 0xe0)));
  assert.equal((fu[0]?.[1] ?? 0) & 0xc0, 0x80, 'start bit on the first fragment only');
  assert.equal((fu.at(-1)?.[1] ?? 0) & 0xc0, 0x40, 'end bit on the last');
  const out: AccessUnit[] = [];
  const dep = new H264Depacketizer(DEFAULT_RTSP_LIMITS, [], (au) => out.push(au));
  payloads.forEach((p, i) => {
    const body = Buffer.concat(p);
    const pkt = Buffer.alloc(12 + body.length);
    writeRtpHeader(pkt, 0, {
      marker: i === payloads.length - 1,
      payloadType: 96,
      sequence: 65530 + i,
      timestamp: 4_294_967_000,
      ssrc: 0xdeadbeef,
    });
    body.copy(pkt, 12);
    const parsed = parseRtp(pkt);
    assert.equal(parsed.sequence, (65530 + i) & 0xffff);
    dep.push(parsed);
  });
  assert.equal(out.length, 1, 'the marker bit ends the access unit');
  assert.equal(out[0]?.keyframe, true);
  assert.deepEqual(out[0]?.data, annexB([SPS, PPS, idr]));
  assert.equal(dep.stats.lost, 0);
});

test('RTCP: a Sender Report is 28 bytes, PT 200, with NTP time from the Unix epoch + 2208988800 s', () => {
  const sr = rtcpSenderReport(0x01020304, 1_000_500, 90_000, 10, 12_345);
  assert.equal(sr.length, 28);
  assert.deepEqual([sr[0], sr[1], sr.readUInt16BE(2)], [0x80, 200, 6]);
  assert.equal(sr.readUInt32BE(8), 1000 + 2_208_988_800);
  assert.equal(sr.readUInt32BE(12), 2 ** 31);
  assert.deepEqual([sr.readUInt32BE(16), sr.readUInt32BE(20), sr.readUInt32BE(24)], [90_000, 10, 12_345]);
});

test('Digest (RFC 2617): the agent client answers the server challenge; wrong password, wrong URI, forged nonce fail; an old nonce is stale', () => {
  let now = 1_000_000;
  const auth = new RtspServerAuth({ username: 'viewer', password: 'pa:ss"word' }, 'Sim', 60_000, () => now);
  const uri = 'rtsp://127.0.0.1:8554/stream';
  assert.equal(auth.check('DESCRIBE', uri, undefined), 'missing');
  const challenges = parseChallenges([auth.challenge()]);
  const answer = (password: string): string =>
    chooseAuthenticator(challenges, CameraCredentials.from('viewer', password), {
      secure: false,
      allowBasicOverPlaintext: false,
    }).authorization('DESCRIBE', uri);
  const good = answer('pa:ss"word');
  assert.equal(auth.check('DESCRIBE', uri, good), 'ok');
  assert.equal(auth.check('DESCRIBE', uri, answer('wrong')), 'wrong');
  assert.equal(auth.check('PLAY', uri, good), 'wrong', 'the method is part of the digest');
  assert.equal(auth.check('DESCRIBE', `${uri}2`, good), 'wrong', 'uri must be the request URI');
  assert.equal(
    auth.check(
      'DESCRIBE',
      uri,
      good.replace(/nonce="([0-9a-f]+)"/, (_m, n: string) => `nonce="${n.slice(0, -1)}${n.endsWith('0') ? '1' : '0'}"`),
    ),
    'wrong',
  );
  assert.equal(auth.check('DESCRIBE', uri, 'Digest garbage'), 'wrong');
  now += 61_000;
  assert.equal(auth.check('DESCRIBE', uri, good), 'stale');
  assert.match(auth.challenge(true), /stale=true/);
  // Another server's nonce key: its nonces are forged here.
  const other = new RtspServerAuth({ username: 'viewer', password: 'pa:ss"word' }, 'Sim', 60_000, () => now);
  assert.equal(other.check('DESCRIBE', uri, good), 'wrong');
});

test('Basic (RFC 7617): right and wrong credentials', () => {
  const auth = new RtspServerAuth({ username: 'u', password: 'p', method: 'basic' }, 'Sim', 60_000);
  assert.match(auth.challenge(), /^Basic realm="Sim"$/);
  assert.equal(auth.check('DESCRIBE', '*', `Basic ${Buffer.from('u:p').toString('base64')}`), 'ok');
  assert.equal(auth.check('DESCRIBE', '*', `Basic ${Buffer.from('u:q').toString('base64')}`), 'wrong');
  assert.equal(auth.check('DESCRIBE', '*', 'Basic !!'), 'wrong');
});
