// Frames of the iOS bridge protocol, version 1 (ios-bridge/PROTOCOL.md): a 24-byte little-endian
// prelude, a JSON header, and a payload of raw little-endian tensors at 8-aligned offsets.
import Foundation

/// A protocol or device failure; `description` follows "Cannot <action>: <state>".
struct BridgeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where one tensor lies in a frame's payload.
struct TensorSpec {
    let name: String
    let dtype: String  // "float32" | "int64" | "uint8"
    let dims: [Int]
    let offset: Int
    let bytes: Int
}

/// A tensor to send: its bytes are already little-endian, row-major.
struct OutgoingTensor {
    let name: String
    let dtype: String
    let dims: [Int]
    let data: Data
}

/// A decoded frame: the JSON header (its "tensors" directory parsed into `tensors`) and the payload.
struct Frame {
    let header: [String: Any]
    let tensors: [TensorSpec]
    let payload: Data

    var type: String { header["type"] as? String ?? "" }
    var id: Int { header["id"] as? Int ?? 0 }
}

enum FrameCodec {
    static let magic: [UInt8] = [0x4f, 0x53, 0x52, 0x42]  // "OSRB"
    static let version: UInt16 = 1
    static let preludeBytes = 24
    static let maxHeaderBytes = 1 << 20
    static let elementBytes = ["float32": 4, "int64": 8, "uint8": 1]

    private static func read<T: FixedWidthInteger>(_ data: Data, _ offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(data[data.startIndex + offset + i])
        }
        return value
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    /// Check the prelude; returns the header and payload lengths.
    static func prelude(_ data: Data) throws -> (header: Int, payload: Int) {
        guard data.count >= preludeBytes else {
            throw BridgeError("Cannot decode frame: the prelude needs '\(preludeBytes)' bytes, got '\(data.count)'")
        }
        guard Array(data.prefix(4)) == magic else { throw BridgeError("Cannot decode frame: bad magic") }
        let v = read(data, 4, as: UInt16.self)
        guard v == version else {
            throw BridgeError("Cannot decode frame: protocol version '\(v)' is not supported (this side speaks version '\(version)')")
        }
        let header = Int(read(data, 8, as: UInt32.self))
        let payload = read(data, 16, as: UInt64.self)
        guard header <= maxHeaderBytes, payload <= UInt64(Int.max / 2) else {
            throw BridgeError("Cannot decode frame: header '\(header)' or payload '\(payload)' bytes too large")
        }
        return (header, Int(payload))
    }

    /// Decode a header and its payload (the bytes after the prelude).
    static func decode(header: Data, payload: Data) throws -> Frame {
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
              json["type"] is String, let id = json["id"] as? Int, id >= 0 else {
            throw BridgeError("Cannot decode frame: the header is not a JSON object with 'type' and 'id'")
        }
        var specs: [TensorSpec] = []
        for raw in json["tensors"] as? [[String: Any]] ?? [] {
            guard let name = raw["name"] as? String, let dtype = raw["dtype"] as? String,
                  let size = elementBytes[dtype], let dims = raw["dims"] as? [Int], dims.allSatisfy({ $0 >= 0 }),
                  let offset = raw["offset"] as? Int, let bytes = raw["bytes"] as? Int,
                  bytes == dims.reduce(1, *) * size, offset >= 0, offset % 8 == 0, offset + bytes <= payload.count
            else { throw BridgeError("Cannot decode tensor '\(raw["name"] ?? "?")': its directory entry is invalid") }
            specs.append(TensorSpec(name: name, dtype: dtype, dims: dims, offset: offset, bytes: bytes))
        }
        return Frame(header: json, tensors: specs, payload: payload)
    }

    /// Encode a frame: header fields plus the tensors' directory, padded so the payload is 8-aligned.
    static func encode(_ fields: [String: Any], tensors: [OutgoingTensor] = []) throws -> Data {
        var header = fields
        var payload = Data()
        var directory: [[String: Any]] = []
        for t in tensors {
            directory.append(["name": t.name, "dtype": t.dtype, "dims": t.dims, "offset": payload.count, "bytes": t.data.count])
            payload.append(t.data)
            payload.append(Data(count: (8 - payload.count % 8) % 8))
        }
        if !directory.isEmpty { header["tensors"] = directory }
        var json = try JSONSerialization.data(withJSONObject: header)
        json.append(Data(repeating: 0x20, count: (8 - json.count % 8) % 8))
        var frame = Data(magic)
        append(version, to: &frame)
        append(UInt16(0), to: &frame)
        append(UInt32(json.count), to: &frame)
        append(UInt32(0), to: &frame)
        append(UInt64(payload.count), to: &frame)
        frame.append(json)
        frame.append(payload)
        return frame
    }
}
