#!/usr/bin/env bash
# `npm test`: everything the suite needs, on a fresh Debian machine, then the suite.
#   - Debian packages for the clients nobody here wrote, redis-server (tests start
#     their own on temporary ports), chromium (browser calls, the web app) and an emoji font,
#     nftables + iproute2 (loss tests),
#     ejabberd (the bench's IM peer; its smoke test starts a throwaway node),
#     systemd (systemd-analyze checks the unit file), installed with apt-get when missing (needs root, as on CI);
#   - node modules (npm ci) when missing; the build (child-process tests run dist/);
#   - tap over test/**/*.test.ts (the loss tests last, alone); test/house.test.ts checks the
#     dependency rules (.dependency-cruiser.cjs) and the linter (eslint.config.js). Extra arguments go to tap (e.g. a file name).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
/usr/bin/python3 -c 'import paho.mqtt' >/dev/null 2>&1 || need+=(python3-paho-mqtt)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
# Emoji in the web app's screenshots (reactions) instead of empty boxes.
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)   # checks contrib/hail.service
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "test/run.sh: missing Debian packages: ${need[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "test/run.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # With systemd, the package also starts Debian's ejabberd (5222, 5280, 1883, ...); the tests start their own.
  if [[ " ${need[*]} " == *" ejabberd "* ]] && [ -d /run/systemd/system ]; then systemctl disable --now ejabberd >/dev/null 2>&1 || true; fi
fi

[ -x node_modules/.bin/tap ] || npm ci --no-audit --no-fund
npm run build --silent
rm -rf .tap/test-results
# Extra arguments (a file, a flag): one tap run, as asked.
[ $# -eq 0 ] || exec node_modules/.bin/tap "$@"
# The loss tests time DTLS/ICE retransmissions of real calls through a lossy
# namespace; beside other heavy files (two jobs on two cores) the machine's
# load failed calls in two runs (not the loss alone). They run last, one at a time.
LOSS='test/media/loss*.test.ts'
status=0
node_modules/.bin/tap --exclude="$LOSS" || status=$?
node_modules/.bin/tap --jobs=1 test/media/loss.test.ts test/media/loss-browser.test.ts || status=$?
exit $status
