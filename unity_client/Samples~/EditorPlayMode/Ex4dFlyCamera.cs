using UnityEngine;
#if EX4D_INPUT_SYSTEM && ENABLE_INPUT_SYSTEM
using UnityEngine.InputSystem;
#endif

namespace Ex4d.Bridge.Samples
{
    /// <summary>
    /// Editor fly camera: hold the right mouse button to look, WASD to move, Q/E down/up,
    /// Shift to go faster, Home to return to the start (the source camera's viewpoint). Works
    /// with the Input System package and with the legacy Input Manager.
    /// </summary>
    public sealed class Ex4dFlyCamera : MonoBehaviour
    {
        public float speed = 1.0f;
        public float fastMultiplier = 4f;
        public float lookDegreesPerPixel = 0.15f;

        Vector3 _startPosition;
        Quaternion _startRotation;
        float _yaw, _pitch;

        void Start()
        {
            _startPosition = transform.position;
            _startRotation = transform.rotation;
            var e = transform.eulerAngles;
            _yaw = e.y;
            _pitch = e.x > 180 ? e.x - 360 : e.x;
        }

        void Update()
        {
            if (Key(KeyCode.Home))
            {
                transform.SetPositionAndRotation(_startPosition, _startRotation);
                var e = _startRotation.eulerAngles;
                _yaw = e.y;
                _pitch = e.x > 180 ? e.x - 360 : e.x;
            }
            if (LookHeld())
            {
                Vector2 d = MouseDelta();
                _yaw += d.x * lookDegreesPerPixel;
                _pitch = Mathf.Clamp(_pitch - d.y * lookDegreesPerPixel, -89f, 89f);
                transform.rotation = Quaternion.Euler(_pitch, _yaw, 0f);
            }
            Vector3 move = Vector3.zero;
            if (Key(KeyCode.W)) move += Vector3.forward;
            if (Key(KeyCode.S)) move += Vector3.back;
            if (Key(KeyCode.A)) move += Vector3.left;
            if (Key(KeyCode.D)) move += Vector3.right;
            if (Key(KeyCode.E)) move += Vector3.up;
            if (Key(KeyCode.Q)) move += Vector3.down;
            float v = speed * (Key(KeyCode.LeftShift) ? fastMultiplier : 1f);
            transform.Translate(move * (v * Time.unscaledDeltaTime), Space.Self);
        }

#if EX4D_INPUT_SYSTEM && ENABLE_INPUT_SYSTEM
        static bool Key(KeyCode code)
        {
            var k = Keyboard.current;
            if (k == null) return false;
            switch (code)
            {
                case KeyCode.W: return k.wKey.isPressed;
                case KeyCode.S: return k.sKey.isPressed;
                case KeyCode.A: return k.aKey.isPressed;
                case KeyCode.D: return k.dKey.isPressed;
                case KeyCode.E: return k.eKey.isPressed;
                case KeyCode.Q: return k.qKey.isPressed;
                case KeyCode.LeftShift: return k.leftShiftKey.isPressed;
                case KeyCode.Home: return k.homeKey.wasPressedThisFrame;
                default: return false;
            }
        }

        static bool LookHeld()
        {
            return Mouse.current != null && Mouse.current.rightButton.isPressed;
        }

        static Vector2 MouseDelta()
        {
            return Mouse.current != null ? Mouse.current.delta.ReadValue() : Vector2.zero;
        }

        /// <summary>A key pressed this frame (for toggles).</summary>
        public static bool Pressed(KeyCode code)
        {
            var k = Keyboard.current;
            if (k == null) return false;
            switch (code)
            {
                case KeyCode.R: return k.rKey.wasPressedThisFrame;
                case KeyCode.Space: return k.spaceKey.wasPressedThisFrame;
                case KeyCode.V: return k.vKey.wasPressedThisFrame;
                case KeyCode.O: return k.oKey.wasPressedThisFrame;
                default: return false;
            }
        }
#else
        static bool Key(KeyCode code)
        {
            return code == KeyCode.Home ? Input.GetKeyDown(code) : Input.GetKey(code);
        }

        static bool LookHeld()
        {
            return Input.GetMouseButton(1);
        }

        static Vector2 MouseDelta()
        {
            // Legacy axes are in "mouse units"; scale to about a pixel.
            return new Vector2(Input.GetAxisRaw("Mouse X"), Input.GetAxisRaw("Mouse Y")) * 20f;
        }

        /// <summary>A key pressed this frame (for toggles).</summary>
        public static bool Pressed(KeyCode code)
        {
            return Input.GetKeyDown(code);
        }
#endif
    }
}
