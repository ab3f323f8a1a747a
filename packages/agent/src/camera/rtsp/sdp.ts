import { CameraError } from '../errors.js';

/** The H.264 video track chosen from a DESCRIBE reply. */
export interface H264Track {
  /** RTP payload type (96-127 dynamic, from `m=` and `a=rtpmap`). */
  readonly payloadType: number;
  readonly clockRate: number;
  /** `a=control` of the media section, as sent (resolved by the client). */
  readonly control: string | undefined;
  /** RFC 6184 8.1: 0 (single NAL) or 1 (non-interleaved). */
  readonly packetizationMode: 0 | 1;
  /** SPS and PPS NAL units from `sprop-parameter-sets`, decoded. */
  readonly parameterSets: readonly Buffer[];
  readonly profileLevelId: string | undefined;
}

export interface SessionDescription {
  /** Session-level `a=control` (the aggregate control URL for PLAY), as sent. */
  readonly control: string | undefined;
  readonly video: H264Track;
}

const MAX_LINES = 512;
const MAX_PARAMETER_SETS = 16;
const MAX_PARAMETER_SET_BYTES = 4096;

function sdpError(message: string): CameraError {
  return new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent a malformed session description (SDP): ${message}.`);
}

function unsupported(message: string): CameraError {
  return new CameraError('RTSP_UNSUPPORTED_MEDIA', `${message} Configure the camera's stream to H.264 (packetization-mode 0 or 1).`);
}

interface MediaSection {
  media: string;
  proto: string;
  formats: number[];
  attributes: [string, string][];
}

/**
 * Parses an SDP (RFC 4566) and picks its first H.264 video track (RFC 6184
 * section 8). The body was already capped by the RTSP reader; this caps the
 * line count and the parameter sets, and refuses anything it cannot read.
 */
export function parseSdp(text: string): SessionDescription {
  const lines = text.split(/\r?\n/);
  if (lines.length > MAX_LINES) throw sdpError(`more than ${MAX_LINES} lines`);
  if (!(lines[0] ?? '').startsWith('v=')) throw sdpError('it does not start with v=');
  const session: [string, string][] = [];
  const media: MediaSection[] = [];
  for (const raw of lines) {
    if (raw === '') continue;
    if (!/^[a-z]=/.test(raw)) throw sdpError('a line is not type=value');
    const type = raw[0];
    const value = raw.slice(2);
    if (type === 'm') {
      const parts = value.split(' ');
      const [kind = '', , proto = '', ...formats] = parts;
      media.push({ media: kind, proto, formats: formats.map((f) => (/^\d{1,3}$/.test(f) ? Number(f) : -1)), attributes: [] });
    } else if (type === 'a') {
      const colon = value.indexOf(':');
      const attr: [string, string] = colon === -1 ? [value, ''] : [value.slice(0, colon), value.slice(colon + 1)];
      const current = media[media.length - 1];
      if (current === undefined) session.push(attr);
      else current.attributes.push(attr);
    }
  }
  const sessionControl = session.find(([k]) => k === 'control')?.[1];
  let sawVideo = false;
  for (const m of media) {
    if (m.media !== 'video') continue;
    sawVideo = true;
    if (!/^RTP\/(S)?AVP(F)?(\/TCP)?$/.test(m.proto)) continue;
    for (const pt of m.formats) {
      if (pt < 0 || pt > 127) continue;
      const rtpmap = m.attributes.find(([k, v]) => k === 'rtpmap' && v.startsWith(`${pt} `))?.[1];
      const enc = rtpmap?.slice(String(pt).length + 1).split('/') ?? [];
      if ((enc[0] ?? '').toUpperCase() !== 'H264') continue;
      const clockRate = Number(enc[1] ?? '90000');
      if (!Number.isInteger(clockRate) || clockRate <= 0 || clockRate > 1_000_000) throw sdpError('the H.264 clock rate is not a number');
      const fmtp = m.attributes.find(([k, v]) => k === 'fmtp' && v.startsWith(`${pt} `))?.[1]?.slice(String(pt).length + 1) ?? '';
      const params = parseFmtp(fmtp);
      const mode = params.get('packetization-mode') ?? '0';
      if (mode !== '0' && mode !== '1')
        throw unsupported(
          `The camera's H.264 stream uses packetization-mode ${mode.slice(0, 8)} (interleaved), which Sightline does not read.`,
        );
      return {
        control: sessionControl,
        video: {
          payloadType: pt,
          clockRate,
          control: m.attributes.find(([k]) => k === 'control')?.[1],
          packetizationMode: mode === '1' ? 1 : 0,
          parameterSets: decodeParameterSets(params.get('sprop-parameter-sets')),
          profileLevelId: params.get('profile-level-id'),
        },
      };
    }
  }
  throw unsupported(sawVideo ? "The camera's video stream is not H.264." : 'The camera offers no video stream.');
}

function parseFmtp(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return out;
}

/** RFC 6184 8.1: sprop-parameter-sets is a comma-separated list of base64 NAL units. */
function decodeParameterSets(value: string | undefined): Buffer[] {
  if (value === undefined || value === '') return [];
  const parts = value.split(',');
  if (parts.length > MAX_PARAMETER_SETS) throw sdpError(`more than ${MAX_PARAMETER_SETS} parameter sets`);
  const out: Buffer[] = [];
  for (const p of parts) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p)) throw sdpError('sprop-parameter-sets is not base64');
    const nal = Buffer.from(p, 'base64');
    if (nal.length === 0) continue;
    if (nal.length > MAX_PARAMETER_SET_BYTES) throw sdpError('a parameter set is too large');
    // Only SPS (7) and PPS (8) belong here.
    const type = (nal[0] ?? 0) & 0x1f;
    if (type !== 7 && type !== 8) throw sdpError(`sprop-parameter-sets holds a NAL unit of type ${type}`);
    out.push(nal);
  }
  return out;
}
