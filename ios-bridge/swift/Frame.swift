// Frames of the iOS bridge protocol, version 2 (ios-bridge/PROTOCOL.md): a 32-byte little-endian
// prelude (sizes, flags, frame counter), a JSON header, a payload of raw little-endian tensors at
// 8-aligned offsets, and on a session a 32-byte HMAC-SHA256 trailer (added and checked by BridgeSession).
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
    static let version: UInt16 = 2
    static let preludeBytes = 32
    static let macBytes = 32
    static let flagMac: UInt16 = 1
    static let maxHeaderBytes = 1 << 20
    static let maxTensors = 1024
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

    struct Prelude { let header: Int; let payload: Int; let mac: Bool; let counter: UInt64 }

    /// Check the prelude against the receiver's limits before anything else is read or allocated.
    static func prelude(_ data: Data, maxHeader: Int = maxHeaderBytes, maxFrame: Int) throws -> Prelude {
        guard data.count >= preludeBytes else {
            throw BridgeError("Cannot decode frame: the prelude needs '\(preludeBytes)' bytes, got '\(data.count)'")
        }
        guard Array(data.prefix(4)) == magic else { throw BridgeError("Cannot decode frame: bad magic") }
        let v = read(data, 4, as: UInt16.self)
        guard v == version else {
            throw BridgeError("Cannot decode frame: protocol version '\(v)' is not supported (this side speaks version '\(version)')")
        }
        let flags = read(data, 6, as: UInt16.self)
        let header = Int(read(data, 8, as: UInt32.self))
        let payload = read(data, 16, as: UInt64.self)
        guard header <= maxHeader else {
            throw BridgeError("Cannot decode frame: header of '\(header)' bytes exceeds '\(maxHeader)'")
        }
        guard payload <= UInt64(maxFrame), header + Int(payload) <= maxFrame else {
            throw BridgeError("Cannot decode frame: header and payload of '\(UInt64(header) &+ payload)' bytes exceed the frame limit '\(maxFrame)'")
        }
        return Prelude(header: header, payload: Int(payload), mac: flags & flagMac != 0, counter: read(data, 24, as: UInt64.self))
    }

    /// Decode a header and its payload (the bytes after the prelude).
    static func decode(header: Data, payload: Data) throws -> Frame {
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
              json["type"] is String, let id = json["id"] as? Int, id >= 0 else {
            throw BridgeError("Cannot decode frame: the header is not a JSON object with 'type' and 'id'")
        }
        var specs: [TensorSpec] = []
        let directory = json["tensors"] as? [[String: Any]] ?? []
        guard directory.count <= maxTensors else {
            throw BridgeError("Cannot decode frame: its tensor directory has '\(directory.count)' entries, above '\(maxTensors)'")
        }
        for raw in directory {
            guard let name = raw["name"] as? String, let dtype = raw["dtype"] as? String,
                  let size = elementBytes[dtype], let dims = raw["dims"] as? [Int], dims.allSatisfy({ $0 >= 0 }),
                  let offset = raw["offset"] as? Int, let bytes = raw["bytes"] as? Int,
                  dims.count <= 16, dims.allSatisfy({ $0 <= payload.count }),
                  bytes == dims.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) * size,
                  offset >= 0, offset % 8 == 0, offset <= payload.count, bytes <= payload.count - offset
            else { throw BridgeError("Cannot decode tensor '\(raw["name"] ?? "?")': its directory entry is invalid") }
            specs.append(TensorSpec(name: name, dtype: dtype, dims: dims, offset: offset, bytes: bytes))
        }
        let spans = specs.filter { $0.bytes > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(spans, spans.dropFirst()) where b.offset < a.offset + a.bytes {
            throw BridgeError("Cannot decode frame: tensors at bytes '\(a.offset)' and '\(b.offset)' overlap")
        }
        return Frame(header: json, tensors: specs, payload: payload)
    }

    /// Encode a frame: header fields plus the tensors' directory, padded so the payload is 8-aligned. With a
    /// `counter`, the MAC flag is set and the counter written; the caller appends the MAC of the result.
    static func encode(_ fields: [String: Any], tensors: [OutgoingTensor] = [], counter: UInt64? = nil) throws -> Data {
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
        append(counter == nil ? UInt16(0) : flagMac, to: &frame)
        append(UInt32(json.count), to: &frame)
        append(UInt32(0), to: &frame)
        append(UInt64(payload.count), to: &frame)
        append(counter ?? 0, to: &frame)
        frame.append(json)
        frame.append(payload)
        return frame
    }
}
