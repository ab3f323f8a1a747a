#!/usr/bin/python3
"""Sightline camera simulator: serves a looping H.264 MP4 over RTSP or RTSPS.

Runs on Debian's GStreamer RTSP server (packages python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base/-good/-bad, and
glib-networking for RTSPS). Use /usr/bin/python3: it is the interpreter
that has `gi`.

Configuration arrives as one JSON line on stdin, never on the command line
(other processes can read /proc/PID/cmdline, and the simulator may carry a
camera password and a TLS key):

    {"file": "/abs/clip.mp4", "host": "127.0.0.1", "port": 0, "path": "/stream",
     "tls": {"certPem": "...", "keyPem": "..."},            # optional: RTSPS
     "credentials": {"username": "u", "password": "p",     # optional
                     "method": "digest" | "basic"}}

When it listens it prints one line `READY <url>` on stdout. It exits when
stdin closes (the parent went away) or on SIGTERM/SIGINT.
"""

import json
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def fail(message):
    print("ERROR " + message, flush=True)
    sys.exit(2)


def gst_quote(path):
    # filesrc location inside a launch line: quote it and escape what the parser treats specially.
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def loop_on_eos(media):
    """Loops the clip: at the end of the file, drop EOS and seek back to the start.

    Each client has its own pipeline (the factory is not shared), so seeking
    affects only that client. The seek runs on the main loop, not in the
    streaming thread that saw the EOS.
    """
    bin_ = media.get_element()
    parse = bin_.get_by_name("parse")
    pad = parse.get_static_pad("src")

    def restart():
        pipeline = bin_.get_parent() or bin_
        pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        return False

    def probe(_pad, info):
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.EOS:
            GLib.idle_add(restart)
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, probe)


def main():
    line = sys.stdin.readline()
    if not line:
        fail("no configuration on stdin")
    try:
        cfg = json.loads(line)
    except ValueError:
        fail("configuration is not JSON")
    path = cfg.get("file")
    if not isinstance(path, str) or not os.path.isfile(path):
        fail("file not found")
    host = cfg.get("host", "127.0.0.1")
    port = int(cfg.get("port", 0))
    mount = cfg.get("path", "/stream")
    tls = cfg.get("tls")
    creds = cfg.get("credentials")

    Gst.init(None)
    server = GstRtspServer.RTSPServer.new()
    server.set_address(host)
    server.set_service(str(port))

    factory = GstRtspServer.RTSPMediaFactory.new()
    # DESIGN.md: not shared (a shared factory failed with four clients at once).
    factory.set_shared(False)
    factory.set_launch(
        "( filesrc location=%s ! qtdemux ! h264parse name=parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
        % gst_quote(os.path.abspath(path))
    )
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    factory.connect("media-configure", lambda _f, media: loop_on_eos(media))

    if tls is not None or creds is not None:
        auth = GstRtspServer.RTSPAuth.new()
        token = GstRtspServer.RTSPToken.new()
        token.set_string("media.factory.role", "viewer")
        if tls is not None:
            cert = Gio.TlsCertificate.new_from_pem(tls["certPem"] + "\n" + tls["keyPem"], -1)
            auth.set_tls_certificate(cert)
        if creds is not None:
            user, password = creds["username"], creds["password"]
            if creds.get("method", "digest") == "basic":
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
                auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            else:
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
                auth.add_digest(user, password, token)
        else:
            # TLS without credentials: everyone who completes the handshake may watch.
            auth.set_default_token(token)
        factory.add_role_from_structure(
            Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )
        server.set_auth(auth)

    server.get_mount_points().add_factory(mount, factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        fail("cannot listen on %s:%d" % (host, port))

    # A session pool cleanup, so that dead clients do not pile up during long runs.
    def cleanup():
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add_seconds(2, cleanup)

    def on_stdin(_source, _condition):
        loop.quit()
        return False

    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, on_stdin)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: loop.quit() or False)

    scheme = "rtsps" if tls is not None else "rtsp"
    shown = "[%s]" % host if ":" in host else host
    print("READY %s://%s:%d%s" % (scheme, shown, server.get_bound_port(), mount), flush=True)
    loop.run()


if __name__ == "__main__":
    main()
