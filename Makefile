# outboard -- `make demo` and `make test` do all set-up from nothing (Debian, Python 3.11).
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
APT_PKGS := libportaudio2 libsndfile1 jackd2 libjack-jackd2-0
STAMP   := $(VENV)/.installed

.PHONY: setup system venv native demo test fuzz bench lint clean

setup: system $(STAMP)

# System libraries: installed only when missing (needs root, as on CI).
system:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml native/*.c native/*.h native/build_ffi.py
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Rebuild only the C extension in place (fast, for development).
native:
	$(VPY) native/build_ffi.py

demo: setup
	$(VENV)/bin/outboard demo

test: setup
	$(VPY) -m pytest -q

# Fuzz sessions, chains, device profiles and audio headers with many more hypothesis
# examples than `make test` runs, new ones each time (FUZZ_EXAMPLES=20000 for a longer run)
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	OUTBOARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VPY) -m pytest -q tests/model/test_fuzz_inputs.py

bench: setup
	$(VPY) bench/run.py

lint: setup
	$(VENV)/bin/ruff check host tests bench native

clean:
	rm -rf build *.egg-info host/_outboard*.so .pytest_cache

# Live real-time bench: DSP load and xruns, C callback vs Python callback, on
# private JACK dummy servers (about 7 minutes; ARGS="--seconds 5" for a quick look).
.PHONY: bench-realtime
bench-realtime: setup
	$(VPY) bench/bench_realtime.py $(ARGS)
