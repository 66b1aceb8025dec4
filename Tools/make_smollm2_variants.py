#!/usr/bin/env python3
"""Other encodings of the default model, for benchmarks that need two files of one real model (a
target and a smaller draft with the same tokenizer, `Benchmarks/speculative.py --draft`).

The only real weights this project can fetch are SmolLM2-135M-Instruct in Q4_1. This rewrites every
Q4_1 tensor of that file, dequantized by the `gguf` package, in FORMAT (F16, F32, Q8_0 or Q4_0; the
`gguf` package's own quantizers, llama.cpp's reference rounding); every other tensor and all metadata
are copied unchanged (general.file_type follows FORMAT). An F16 or F32 file holds the Q4_1 model's
weights as they dequantize, so it is that model at full precision, 2.7× (F16) or 5.5× (F32) the bytes
per token: the file a user would draft for with the Q4_1 one.

    python3 Tools/make_smollm2_variants.py F16 [SOURCE] [OUT]

SOURCE defaults to Tools/fetch-default-model.sh's file, OUT to SOURCE with Q4_1 replaced by FORMAT.
Needs the `gguf` package (pip install gguf).
"""
import os
import subprocess
import sys

try:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, Keys
    from gguf.quants import dequantize, quantize
except ImportError as error:
    sys.exit(f"make_smollm2_variants.py needs the gguf package (pip install gguf): {error}")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# llama.cpp's LLAMA_FTYPE values for general.file_type.
FORMATS = {"F32": (GGMLQuantizationType.F32, 0), "F16": (GGMLQuantizationType.F16, 1),
           "Q4_0": (GGMLQuantizationType.Q4_0, 2), "Q8_0": (GGMLQuantizationType.Q8_0, 7)}


def encode(values, kind):
    if kind == GGMLQuantizationType.F32:
        return values.astype(np.float32)
    if kind == GGMLQuantizationType.F16:
        return values.astype(np.float16)
    return quantize(values, kind)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in FORMATS:
        sys.exit(f"usage: make_smollm2_variants.py {{{','.join(FORMATS)}}} [SOURCE] [OUT]")
    name = sys.argv[1]
    kind, file_type = FORMATS[name]
    source = sys.argv[2] if len(sys.argv) > 2 else subprocess.run(
        [os.path.join(ROOT, "Tools", "fetch-default-model.sh")], capture_output=True, text=True, check=True).stdout.strip()
    out = sys.argv[3] if len(sys.argv) > 3 else source.replace("Q4_1", name)
    if out == source:
        sys.exit("the output would overwrite the source: name OUT")
    reader = GGUFReader(source)
    arch = reader.fields[Keys.General.ARCHITECTURE].contents()
    writer = GGUFWriter(out, arch)
    for field in reader.fields.values():
        # The architecture and the GGUF.* fields are written by GGUFWriter itself.
        if field.name == Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
        value = file_type if field.name == Keys.General.FILE_TYPE else field.contents()
        writer.add_key_value(field.name, value, value_type, sub_type=sub_type)
    tensors = []
    for t in reader.tensors:
        if t.tensor_type == GGMLQuantizationType.Q4_1:
            data = encode(dequantize(t.data, t.tensor_type), kind)
            tensors.append((t.name, data, kind))
        else:
            tensors.append((t.name, t.data, t.tensor_type))
    for name_, data, data_type in tensors:
        # Quantized arrays are bytes (their shape in bytes); float ones are their own shape.
        writer.add_tensor_info(name_, data.shape, data.dtype, data.nbytes, data_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, data, _ in tensors:
        writer.write_tensor_data(data)
    writer.close()
    print(out)


if __name__ == "__main__":
    main()
