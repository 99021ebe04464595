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

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI does.
ci:
    bash .ci/run
