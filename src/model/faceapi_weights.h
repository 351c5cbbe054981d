// Imports the weights of face-api's FaceRecognitionNet (dlib's ResNet) into DlibResNet
// from its tfjs weights manifest and binary file (read by tfjs_weights.h).
#pragma once

#include <filesystem>
#include <string>

namespace toonreid {

class DlibResNet;

// `folder` holds face_recognition_model-weights_manifest.json and its .bin file (as
// fetched by `make deps` into .cache/weights/face-api). Throws Error naming the file or
// tensor when something is missing, mis-shaped or left unloaded.
void load_faceapi_weights(DlibResNet& net, const std::filesystem::path& folder);

// Where `make deps` puts the weights: $TOONREID_WEIGHTS_DIR/face-api if set, else
// <project>/.cache/weights/face-api found by walking up from `start`, else from the
// running program's folder.
std::filesystem::path default_faceapi_folder(const std::filesystem::path& start = std::filesystem::current_path());

// The same search for any folder `make deps` fills under .cache/weights: `name` is the
// folder (face-api, human-models), `marker` a file whose presence says it is complete.
std::filesystem::path find_weights_folder(const std::string& name, const std::string& marker,
                                          const std::filesystem::path& start);

}  // namespace toonreid
