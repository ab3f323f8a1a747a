/**
 * RTP payload format for H.264 (RFC 6184), sender side, packetization-mode 1:
 * a NAL unit that fits the MTU goes as a single NAL unit packet (5.6), a
 * larger one as FU-A fragments (5.8). STAP-A is not needed: SPS and PPS are
 * small and go one per packet, as many cameras send them.
 */

export const RTP_HEADER_BYTES = 12;
export const H264_PAYLOAD_TYPE = 96;
export const H264_CLOCK_RATE = 90_000;
const FU_A = 28;

/** One RTP payload: its pieces are concatenated on the wire (no copy until then). */
export type RtpPayload = readonly Buffer[];

/** Splits one access unit's NAL units into RTP payloads of at most `maxPayload` bytes. */
export function packetizeAccessUnit(nals: readonly Buffer[], maxPayload: number): RtpPayload[] {
  if (!Number.isInteger(maxPayload) || maxPayload < 3) throw new RangeError('the RTP payload size must be at least 3 bytes');
  const out: RtpPayload[] = [];
  for (const nal of nals) {
    if (nal.length === 0) continue;
    if (nal.length <= maxPayload) {
      out.push([nal]);
      continue;
    }
    // RFC 6184 5.8: FU indicator = F|NRI of the NAL and type 28; FU header = S|E|R|type; the NAL header byte is not sent.
    const header = nal[0] ?? 0;
    const indicator = (header & 0xe0) | FU_A;
    const type = header & 0x1f;
    const step = maxPayload - 2;
    for (let off = 1; off < nal.length; off += step) {
      const end = Math.min(off + step, nal.length);
      const fu = (off === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
      out.push([Buffer.from([indicator, fu]), nal.subarray(off, end)]);
    }
  }
  return out;
}

/** RFC 3550 5.1: V=2, no padding, no extension, no CSRC. */
export function writeRtpHeader(
  target: Buffer,
  offset: number,
  h: { marker: boolean; payloadType: number; sequence: number; timestamp: number; ssrc: number },
): void {
  target[offset] = 0x80;
  target[offset + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  target.writeUInt16BE(h.sequence & 0xffff, offset + 2);
  target.writeUInt32BE(h.timestamp >>> 0, offset + 4);
  target.writeUInt32BE(h.ssrc >>> 0, offset + 8);
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** RFC 3550 6.4.1: a Sender Report without report blocks (28 bytes). */
export function rtcpSenderReport(ssrc: number, unixMs: number, rtpTimestamp: number, packets: number, octets: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2); // length in 32-bit words minus one
  b.writeUInt32BE(ssrc >>> 0, 4);
  const seconds = Math.floor(unixMs / 1000);
  b.writeUInt32BE((seconds + NTP_UNIX_OFFSET) >>> 0, 8);
  b.writeUInt32BE(Math.floor(((unixMs % 1000) / 1000) * 2 ** 32) >>> 0, 12);
  b.writeUInt32BE(rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(packets >>> 0, 20);
  b.writeUInt32BE(octets >>> 0, 24);
  return b;
}
