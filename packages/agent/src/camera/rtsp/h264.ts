import { CameraError } from '../errors.js';
import type { RtspLimits } from './limits.js';

/** A parsed RTP packet (RFC 3550 5.1). `payload` is a view into the packet. */
export interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Buffer;
}

function rtpError(message: string): CameraError {
  return new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent a malformed RTP packet: ${message}.`);
}

/** RFC 3550 5.1: fixed header, CSRC list, optional extension (5.3.1) and padding. */
export function parseRtp(packet: Buffer): RtpPacket {
  if (packet.length < 12) throw rtpError('shorter than the 12-byte header');
  const b0 = packet[0] ?? 0;
  const b1 = packet[1] ?? 0;
  if (b0 >> 6 !== 2) throw rtpError('version is not 2');
  let offset = 12 + (b0 & 0x0f) * 4;
  if ((b0 & 0x10) !== 0) {
    if (packet.length < offset + 4) throw rtpError('the header extension is truncated');
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  let end = packet.length;
  if ((b0 & 0x20) !== 0) {
    const pad = packet[packet.length - 1] ?? 0;
    if (pad === 0) throw rtpError('padding of zero bytes');
    end -= pad;
  }
  if (end < offset) throw rtpError('the header is longer than the packet');
  return {
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequence: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(offset, end),
  };
}

/** One picture's NAL units in Annex-B byte-stream form (start codes), ready for a decoder. */
export interface AccessUnit {
  readonly data: Buffer;
  /** Holds an IDR slice (NAL type 5): decoding can start here. */
  readonly keyframe: boolean;
  readonly rtpTimestamp: number;
}

export interface DepacketizerStats {
  packets: number;
  accessUnits: number;
  /** Packets lost (sequence gaps) and fragments dropped because of them. */
  lost: number;
  /** NAL units of types this client ignores (0, 30, 31). */
  ignored: number;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;

/**
 * RFC 6184 depacketizer for packetization modes 0 and 1: single NAL unit
 * packets (5.6), STAP-A (5.7.1) and FU-A (5.8). Groups NAL units into access
 * units by RTP timestamp and the marker bit (5.1), and inserts the SDP's
 * parameter sets before an IDR that lacks them so a decoder can start there.
 * Modes with interleaving (STAP-B, MTAP, FU-B) are refused.
 */
export class H264Depacketizer {
  readonly stats: DepacketizerStats = { packets: 0, accessUnits: 0, lost: 0, ignored: 0 };
  private nals: Buffer[] = [];
  private auBytes = 0;
  private auTimestamp: number | undefined;
  private fu: Buffer[] | undefined;
  private fuBytes = 0;
  private lastSeq: number | undefined;
  private ssrc: number | undefined;

  constructor(
    private readonly limits: Pick<RtspLimits, 'maxNal' | 'maxAccessUnit' | 'maxNalsPerAccessUnit'>,
    private readonly parameterSets: readonly Buffer[],
    private readonly emit: (au: AccessUnit) => void,
  ) {}

  push(pkt: RtpPacket): void {
    this.stats.packets++;
    if (this.ssrc !== pkt.ssrc) {
      // A new source (the camera restarted its stream): start clean.
      if (this.ssrc !== undefined) this.reset();
      this.ssrc = pkt.ssrc;
    }
    if (this.lastSeq !== undefined && pkt.sequence !== ((this.lastSeq + 1) & 0xffff)) {
      this.stats.lost++;
      // A fragment was lost: the NAL being reassembled is broken (RFC 6184 5.8).
      this.dropFragment();
    }
    this.lastSeq = pkt.sequence;
    if (this.auTimestamp !== undefined && pkt.timestamp !== this.auTimestamp) this.flush();
    this.auTimestamp = pkt.timestamp;

    const payload = pkt.payload;
    if (payload.length === 0) throw rtpError('an empty H.264 payload');
    const header = payload[0] ?? 0;
    if ((header & 0x80) !== 0) throw rtpError('the H.264 forbidden_zero_bit is set');
    const type = header & 0x1f;
    if (type >= 1 && type <= 23) {
      this.addNal(payload);
    } else if (type === STAP_A) {
      // RFC 6184 5.7.1: [16-bit size][NAL] repeated.
      let off = 1;
      while (off < payload.length) {
        if (off + 2 > payload.length) throw rtpError('a STAP-A size is truncated');
        const size = payload.readUInt16BE(off);
        off += 2;
        if (size === 0 || off + size > payload.length) throw rtpError('a STAP-A unit overruns the packet');
        this.addNal(payload.subarray(off, off + size));
        off += size;
      }
    } else if (type === FU_A) {
      this.pushFuA(payload);
    } else if (type === 25 || type === 26 || type === 27 || type === 29) {
      throw new CameraError(
        'RTSP_UNSUPPORTED_MEDIA',
        `The camera sends H.264 in interleaved mode (NAL type ${type}), which Sightline does not read. Configure the camera for packetization-mode 1.`,
      );
    } else {
      this.stats.ignored++;
    }
    if (pkt.marker) this.flush();
  }

  private pushFuA(payload: Buffer): void {
    if (payload.length < 3) throw rtpError('an FU-A packet without payload');
    const indicator = payload[0] ?? 0;
    const fuHeader = payload[1] ?? 0;
    const start = (fuHeader & 0x80) !== 0;
    const end = (fuHeader & 0x40) !== 0;
    if (start && end) throw rtpError('an FU-A with both start and end bits');
    const data = payload.subarray(2);
    if (start) {
      this.dropFragment();
      // RFC 6184 5.8: the NAL header is F and NRI from the indicator, type from the FU header.
      this.fu = [Buffer.from([(indicator & 0xe0) | (fuHeader & 0x1f)]), data];
      this.fuBytes = 1 + data.length;
    } else if (this.fu === undefined) {
      // Continuation of a NAL whose start we did not see (joined mid-frame, or lost): skip it.
      return;
    } else {
      this.fu.push(data);
      this.fuBytes += data.length;
    }
    if (this.fuBytes > this.limits.maxNal) {
      throw new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent an H.264 NAL unit larger than the ${this.limits.maxNal}-byte cap.`);
    }
    if (end) {
      const nal = Buffer.concat(this.fu, this.fuBytes);
      this.fu = undefined;
      this.fuBytes = 0;
      this.addNal(nal);
    }
  }

  private dropFragment(): void {
    this.fu = undefined;
    this.fuBytes = 0;
  }

  private addNal(nal: Buffer): void {
    if (nal.length > this.limits.maxNal) {
      throw new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent an H.264 NAL unit larger than the ${this.limits.maxNal}-byte cap.`);
    }
    if (this.nals.length >= this.limits.maxNalsPerAccessUnit) {
      throw new CameraError(
        'RTSP_PROTOCOL_ERROR',
        `The camera sent more than ${this.limits.maxNalsPerAccessUnit} NAL units in one picture.`,
      );
    }
    this.auBytes += START_CODE.length + nal.length;
    if (this.auBytes > this.limits.maxAccessUnit) {
      throw new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent a picture larger than the ${this.limits.maxAccessUnit}-byte cap.`);
    }
    this.nals.push(nal);
  }

  /** Emits the access unit collected so far, if any. */
  flush(): void {
    const nals = this.nals;
    if (nals.length === 0) return;
    this.nals = [];
    this.auBytes = 0;
    const types = nals.map((n) => (n[0] ?? 0) & 0x1f);
    const keyframe = types.includes(NAL_IDR);
    const parts: Buffer[] = [];
    if (keyframe && !types.includes(NAL_SPS) && this.parameterSets.length > 0) {
      for (const ps of this.parameterSets) parts.push(START_CODE, ps);
    }
    for (const nal of nals) parts.push(START_CODE, nal);
    this.stats.accessUnits++;
    this.emit({ data: Buffer.concat(parts), keyframe, rtpTimestamp: this.auTimestamp ?? 0 });
  }

  private reset(): void {
    this.nals = [];
    this.auBytes = 0;
    this.auTimestamp = undefined;
    this.dropFragment();
    this.lastSeq = undefined;
  }
}

export { NAL_IDR, NAL_PPS, NAL_SPS };
