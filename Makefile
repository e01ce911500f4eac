# mmfuse: one command to set up and run the demo, one to set up and run the tests.
# TORCH_SPEC can be overridden, e.g. `make test TORCH_SPEC="torch==2.14.1"`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmfuse-installed
SAMPLE_IR := src/mmfuse/samples/ir/FLIR_04625.jpg
SAMPLE_VI := src/mmfuse/samples/vi/FLIR_04625.jpg
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[test]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/mmfuse fuse $(SAMPLE_IR) $(SAMPLE_VI) -o out/demo_fused.png --overwrite

test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf out .pytest_cache
