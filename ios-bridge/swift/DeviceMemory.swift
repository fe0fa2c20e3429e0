// The memory figures of the protocol's `memory` object on iOS.
import Foundation
import os

enum DeviceMemory {
    /// Bytes this process may still allocate before the jetsam limit.
    static func available() -> Int { Int(os_proc_available_memory()) }

    /// This process's physical footprint (what jetsam counts), bytes.
    static func footprint() -> Int {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let status = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return status == KERN_SUCCESS ? Int(info.phys_footprint) : 0
    }

    /// The protocol's `memory` object for `residentBytes` of loaded blocks.
    static func report(residentBytes: Int) -> [String: Any] {
        ["residentBytes": residentBytes, "availableBytes": available(), "rssBytes": footprint()]
    }
}
