#!/usr/bin/env bash
# The Debian packages the tests use, installed in one step (root or sudo):
# oathtool (TOTP interop), age (the provisioning archive opens with Debian's
# age), swtpm + tpm2-tools (the agent's root key sealed by a software TPM 2.0),
# ffmpeg + GStreamer's RTSP server (camera ingest against a real RTSP/RTSPS
# server), bubblewrap (app isolation), openssl (TLS handshakes), bsdutils
# (script(1), a terminal for age's passphrase prompt), chromium (the console's
# end-to-end test drives it through playwright-core), e2fsprogs (mkfs.ext4
# for app disk quotas).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  oathtool age openssl postgresql-client bsdutils \
  swtpm swtpm-tools tpm2-tools \
  ffmpeg gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi \
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav \
  glib-networking bubblewrap chromium e2fsprogs >/dev/null
echo "test dependencies installed"
