// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Bora",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Bora", targets: ["Bora"]),
        .executable(name: "bora", targets: ["bora"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The innermost SIMD loops only (block dot products over rows). Each AVX2 function carries
        // its own `target` attribute and is chosen at run time, so no unsafe build flags are needed
        // and Bora stays usable as a package dependency.
        .target(name: "CBoraKernels"),
        .target(name: "Bora", dependencies: ["CBoraKernels"]),
        .executableTarget(
            name: "bora",
            dependencies: ["Bora", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Fuzz targets for the readers of untrusted bytes (Fuzz/Sources/main.swift, Tools/fuzz.sh);
        // a plain build replays the corpora, as the tests do.
        .target(name: "CBoraFuzz", path: "Fuzz/CBoraFuzz"),
        .executableTarget(name: "bora-fuzz", dependencies: ["Bora", "CBoraFuzz"], path: "Fuzz/Sources"),
        // The allocation check of the hot path, run optimized by Tools/test.sh: a malloc counter
        // (replacing malloc in its executable; Linux only) around decode and batched steps.
        .target(name: "CBoraMallocCounter", path: "Tools/AllocCheck/CBoraMallocCounter"),
        .executableTarget(name: "bora-alloc-check", dependencies: ["Bora", "CBoraMallocCounter"], path: "Tools/AllocCheck/Sources"),
        .testTarget(name: "BoraTests", dependencies: ["Bora", "CBoraKernels"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
