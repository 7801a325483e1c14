#!/usr/bin/env bash
# The console's browser tests (tests/console) drive Debian's Chromium through Playwright's
# executable_path; nothing downloads a browser build. Install it where we can (root with apt),
# else skip quietly: the tests then skip with a printed reason.
set -u
[ "$(uname -s)" = "Linux" ] || exit 0
[ -x /usr/bin/chromium ] && exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
[ "$(id -u)" = "0" ] || { echo "note: install Debian's chromium to run the console's browser tests"; exit 0; }
echo "installing chromium for the console's browser tests"
(apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }) ||
  echo "note: could not install chromium; the console's browser tests will be skipped"
