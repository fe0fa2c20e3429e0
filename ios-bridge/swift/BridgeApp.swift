// A minimal iPhone app around the bridge: serves the Core ML blocks in Documents/odsora-models (copy the
// folder ios-bridge/coreml_export.py writes there with Finder or the Files app) on port 9777, pairs hosts
// (the code a host types is shown here), and lists the paired hosts so the person can forget one.
import SwiftUI

@main
struct BridgeApp: App {
    @State private var status = "starting"
    @State private var code: String?
    @State private var hosts: [String] = []
    private let server = BridgeServer(
        store: ModelStore(root: FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("odsora-models")),
        deviceName: UIDevice.current.name)

    var body: some Scene {
        WindowGroup {
            VStack(spacing: 12) {
                Text("odsora iOS bridge").font(.headline)
                Text("port 9777 · \(status)").font(.caption.monospaced())
                if let code {
                    Text(code).font(.system(size: 44, weight: .bold, design: .monospaced))
                    Text("type this code on the host (valid 120 s)").font(.caption)
                }
                Button("Pair a host") { server.openPairing() }
                Text("then on the host: deno run -A ios-bridge/pair.ts --pair --host <this phone's IP>").font(.caption2)
                List(hosts, id: \.self) { host in
                    HStack {
                        Text(host).font(.caption.monospaced())
                        Spacer()
                        Button("Forget", role: .destructive) { server.pairings.forget(host: host); hosts = server.pairings.hosts() }
                    }
                }
            }
            .padding()
            .onAppear {
                UIApplication.shared.isIdleTimerDisabled = true  // a long run must not lock the screen
                server.showCode = { shown in code = shown; hosts = server.pairings.hosts() }
                hosts = server.pairings.hosts()
                do { try server.start(port: 9777) { state in status = state } } catch { status = "\(error)" }
            }
        }
    }
}
