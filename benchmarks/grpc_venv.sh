#!/usr/bin/env bash
# A separate virtualenv for the etcd gRPC peer (benchmarks/etcd_grpc_worker.py): python-etcd3
# needs protobuf < 4, which leaselect's environment (etcd3gw, opentelemetry) does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-grpc
.venv-grpc/bin/pip install -q 'etcd3==0.12.0' 'protobuf<4' 'grpcio<2'
echo "then: python -m benchmarks.etcd_handover --grpc-python .venv-grpc/bin/python"
