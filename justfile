# Convenience recipes; every one is a plain cargo command you can run yourself.
# .ci/run is the authoritative CI entry point.

# Run the default experiment (Sawal & Wong layer sensitivity).
run *ARGS:
    cargo run --release -- run {{ARGS}}

# Run every test.
test:
    cargo test --workspace

# Benchmarks: criterion, then the side-by-side report.
bench:
    cargo bench -p xbar-experiment
    cargo run --release -- bench

# Side-by-side comparisons against Python baselines (they install into target/bench-venv).
bench-corrector:
    bash scripts/bench-corrector.sh

bench-repair:
    bash scripts/bench-repair.sh

# Regenerate docs/config-reference.md from the configuration structs.
reference:
    cargo run --release -q -- reference > docs/config-reference.md

# Re-make the golden reference run after an intended change of results.
bless-golden:
    XBAR_BLESS=1 cargo test -p xbar-cli --test golden

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI does.
ci:
    bash .ci/run
