// Unlit panel for novel views: the rendered DW-Mesh view with regions its mask marks as unseen
// (to be generated) tinted, or the generated view itself. _MainTex holds RGB, _MaskTex an R8
// mask (1 = seen). Rows: see _MainTopRowFirst / _MaskTopRowFirst (raw uploads keep the wire's
// top-row-first order, Texture2D.LoadImage does not). Built-in and URP, stereo instancing.
Shader "Ex4d/Novel View"
{
    Properties
    {
        _MainTex ("View", 2D) = "black" {}
        _MaskTex ("Mask (R)", 2D) = "white" {}
        [Toggle] _MainTopRowFirst ("View rows top first", Float) = 0
        [Toggle] _MaskTopRowFirst ("Mask rows top first", Float) = 1
        [Toggle] _UseMask ("Tint unseen regions", Float) = 1
        _HoleColor ("Unseen colour", Color) = (0.15, 0.05, 0.25, 1)
    }

    SubShader
    {
        PackageRequirements { "com.unity.render-pipelines.universal" }
        Tags { "RenderType" = "Opaque" "RenderPipeline" = "UniversalPipeline" "Queue" = "Geometry" }
        Pass
        {
            Name "Unlit"
            Tags { "LightMode" = "UniversalForward" }
            Cull Off
            HLSLPROGRAM
            #pragma vertex Vert
            #pragma fragment Frag
            #pragma multi_compile_instancing
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"

            TEXTURE2D(_MainTex);
            SAMPLER(sampler_MainTex);
            TEXTURE2D(_MaskTex);
            SAMPLER(sampler_MaskTex);
            CBUFFER_START(UnityPerMaterial)
                float4 _MainTex_ST;
                float4 _MaskTex_ST;
                float _MainTopRowFirst;
                float _MaskTopRowFirst;
                float _UseMask;
                half4 _HoleColor;
            CBUFFER_END

            struct Attributes
            {
                float3 positionOS : POSITION;
                float2 uv : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                float2 uv : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            Varyings Vert(Attributes input)
            {
                Varyings output = (Varyings)0;
                UNITY_SETUP_INSTANCE_ID(input);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(output);
                output.positionCS = TransformObjectToHClip(input.positionOS);
                output.uv = input.uv;
                return output;
            }

            half4 Frag(Varyings input) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(input);
                float2 uvMain = float2(input.uv.x, _MainTopRowFirst > 0.5 ? 1.0 - input.uv.y : input.uv.y);
                float2 uvMask = float2(input.uv.x, _MaskTopRowFirst > 0.5 ? 1.0 - input.uv.y : input.uv.y);
                half3 rgb = SAMPLE_TEXTURE2D(_MainTex, sampler_MainTex, uvMain).rgb;
                half seen = SAMPLE_TEXTURE2D(_MaskTex, sampler_MaskTex, uvMask).r;
                if (_UseMask > 0.5) rgb = lerp(_HoleColor.rgb, rgb, seen);
                return half4(rgb, 1.0);
            }
            ENDHLSL
        }
    }

    SubShader
    {
        Tags { "RenderType" = "Opaque" "Queue" = "Geometry" }
        Pass
        {
            Cull Off
            CGPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #pragma multi_compile_instancing
            #include "UnityCG.cginc"

            sampler2D _MainTex;
            sampler2D _MaskTex;
            float _MainTopRowFirst;
            float _MaskTopRowFirst;
            float _UseMask;
            fixed4 _HoleColor;

            struct appdata
            {
                float4 vertex : POSITION;
                float2 uv : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct v2f
            {
                float4 pos : SV_POSITION;
                float2 uv : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            v2f vert(appdata v)
            {
                v2f o;
                UNITY_SETUP_INSTANCE_ID(v);
                UNITY_INITIALIZE_OUTPUT(v2f, o);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(o);
                o.pos = UnityObjectToClipPos(v.vertex);
                o.uv = v.uv;
                return o;
            }

            fixed4 frag(v2f i) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(i);
                float2 uvMain = float2(i.uv.x, _MainTopRowFirst > 0.5 ? 1.0 - i.uv.y : i.uv.y);
                float2 uvMask = float2(i.uv.x, _MaskTopRowFirst > 0.5 ? 1.0 - i.uv.y : i.uv.y);
                fixed3 rgb = tex2D(_MainTex, uvMain).rgb;
                fixed seen = tex2D(_MaskTex, uvMask).r;
                if (_UseMask > 0.5) rgb = lerp(_HoleColor.rgb, rgb, seen);
                return fixed4(rgb, 1.0);
            }
            ENDCG
        }
    }

    Fallback Off
}
