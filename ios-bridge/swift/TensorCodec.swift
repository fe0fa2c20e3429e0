// MLMultiArray <-> protocol tensors. Inputs: float32 is copied as is (C order); int64 becomes int32
// (Core ML has no int64 arrays), range-checked. Outputs: float32 or float16 arrays, any strides, are
// written as C-order little-endian float32; int32 outputs as int64.
import CoreML
import Foundation

enum TensorCodec {
    /// The input array of a received tensor.
    static func multiArray(_ spec: TensorSpec, in payload: Data) throws -> MLMultiArray {
        let shape = spec.dims.map { NSNumber(value: $0) }
        let bytes = payload.subdata(in: payload.startIndex + spec.offset ..< payload.startIndex + spec.offset + spec.bytes)
        switch spec.dtype {
        case "float32":
            let array = try MLMultiArray(shape: shape, dataType: .float32)  // C-contiguous
            bytes.withUnsafeBytes { src in
                if let base = src.baseAddress, spec.bytes > 0 { array.dataPointer.copyMemory(from: base, byteCount: spec.bytes) }
            }
            return array
        case "int64":
            let array = try MLMultiArray(shape: shape, dataType: .int32)
            let out = array.dataPointer.bindMemory(to: Int32.self, capacity: array.count)
            try bytes.withUnsafeBytes { src in
                for (i, v) in src.bindMemory(to: Int64.self).enumerated() {
                    let value = Int64(littleEndian: v)
                    guard let narrow = Int32(exactly: value) else {
                        throw BridgeError("Cannot convert tensor '\(spec.name)': value '\(value)' does not fit int32")
                    }
                    out[i] = narrow
                }
            }
            return array
        default:
            throw BridgeError("Cannot convert tensor '\(spec.name)': dtype '\(spec.dtype)' has no Core ML array type")
        }
    }

    /// Every element offset of `shape` with `strides`, in C order (the innermost axis fastest).
    private static func offsets(shape: [Int], strides: [Int]) -> [Int] {
        var result = [0]
        for (n, s) in zip(shape, strides) {
            result = result.flatMap { base in (0..<n).map { base + $0 * s } }
        }
        return result
    }

    /// The C-order strides of `shape`.
    private static func contiguous(_ shape: [Int]) -> [Int] {
        var strides = Array(repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        return strides
    }

    /// The tensor to send for an output array.
    static func tensor(_ name: String, _ array: MLMultiArray) throws -> OutgoingTensor {
        let shape = array.shape.map { $0.intValue }
        let strides = array.strides.map { $0.intValue }
        if array.dataType == .float32 && strides == contiguous(shape) {  // the common case: one copy
            let data = Data(bytes: array.dataPointer, count: array.count * 4)
            return OutgoingTensor(name: name, dtype: "float32", dims: shape, data: data)
        }
        let index = offsets(shape: shape, strides: strides)
        switch array.dataType {
        case .float32:
            let src = array.dataPointer.bindMemory(to: Float32.self, capacity: (index.max() ?? 0) + 1)
            let values = index.map { src[$0].bitPattern.littleEndian }
            return OutgoingTensor(name: name, dtype: "float32", dims: shape, data: values.withUnsafeBufferPointer { Data(buffer: $0) })
        case .float16:
            let src = array.dataPointer.bindMemory(to: Float16.self, capacity: (index.max() ?? 0) + 1)
            let values = index.map { Float32(src[$0]).bitPattern.littleEndian }
            return OutgoingTensor(name: name, dtype: "float32", dims: shape, data: values.withUnsafeBufferPointer { Data(buffer: $0) })
        case .int32:
            let src = array.dataPointer.bindMemory(to: Int32.self, capacity: (index.max() ?? 0) + 1)
            let values = index.map { Int64(src[$0]).littleEndian }
            return OutgoingTensor(name: name, dtype: "int64", dims: shape, data: values.withUnsafeBufferPointer { Data(buffer: $0) })
        default:
            throw BridgeError("Cannot convert output '\(name)': Core ML data type '\(array.dataType.rawValue)' is not supported")
        }
    }
}
