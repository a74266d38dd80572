// Unlit DW-Mesh: vertex colours from the frame's colour texture, occluded regions shown, faded
// (screen-space dither, so no sorting and both eyes agree) or hidden (by the index buffer, see
// Ex4dMeshBuild.compute). Vertex data: POSITION, TEXCOORD0 = (u, t from the top row,
// visibility). One SubShader for URP (used when the URP package is installed), one for the
// Built-in render pipeline; both support single-pass instanced stereo (and multiview).
Shader "Ex4d/DW Mesh"
{
    Properties
    {
        _MainTex ("Colour", 2D) = "white" {}
        // 1 when the texture holds rows top first (raw RGB upload), 0 when decoded by
        // Texture2D.LoadImage (bottom row first, as Unity stores images).
        [Toggle] _ColorTopRowFirst ("Colour rows top first", Float) = 0
        [Enum(Show, 0, Fade, 1, Hide, 2)] _OccludedMode ("Occluded faces", Float) = 1
        _FadeSoftness ("Fade softness", Range(0.01, 1)) = 0.35
        [Enum(UnityEngine.Rendering.CullMode)] _Cull ("Cull", Float) = 0
    }

    SubShader
    {
        PackageRequirements { "com.unity.render-pipelines.universal" }
        Tags { "RenderType" = "Opaque" "RenderPipeline" = "UniversalPipeline" "Queue" = "Geometry" }

        Pass
        {
            Name "Unlit"
            Tags { "LightMode" = "UniversalForward" }
            Cull [_Cull]
            ZWrite On

            HLSLPROGRAM
            #pragma vertex Vert
            #pragma fragment Frag
            #pragma multi_compile_instancing
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"
            #include "Ex4dCommon.hlsl"

            TEXTURE2D(_MainTex);
            SAMPLER(sampler_MainTex);
            CBUFFER_START(UnityPerMaterial)
                float4 _MainTex_ST;
                float _ColorTopRowFirst;
                float _OccludedMode;
                float _FadeSoftness;
                float _Cull;
            CBUFFER_END

            struct Attributes
            {
                float3 positionOS : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            Varyings Vert(Attributes input)
            {
                Varyings output = (Varyings)0;
                UNITY_SETUP_INSTANCE_ID(input);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(output);
                output.positionCS = TransformObjectToHClip(input.positionOS);
                output.uvVis = input.uvVis;
                return output;
            }

            half4 Frag(Varyings input) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(input);
                Ex4dFade(input.uvVis.z, _OccludedMode, _FadeSoftness, input.positionCS.xy);
                float2 uv = Ex4dColorUv(input.uvVis, _ColorTopRowFirst);
                return half4(SAMPLE_TEXTURE2D(_MainTex, sampler_MainTex, uv).rgb, 1.0);
            }
            ENDHLSL
        }

        Pass
        {
            Name "DepthOnly"
            Tags { "LightMode" = "DepthOnly" }
            Cull [_Cull]
            ZWrite On
            ColorMask R

            HLSLPROGRAM
            #pragma vertex Vert
            #pragma fragment Frag
            #pragma multi_compile_instancing
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"
            #include "Ex4dCommon.hlsl"

            CBUFFER_START(UnityPerMaterial)
                float4 _MainTex_ST;
                float _ColorTopRowFirst;
                float _OccludedMode;
                float _FadeSoftness;
                float _Cull;
            CBUFFER_END

            struct Attributes
            {
                float3 positionOS : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                float visibility : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            Varyings Vert(Attributes input)
            {
                Varyings output = (Varyings)0;
                UNITY_SETUP_INSTANCE_ID(input);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(output);
                output.positionCS = TransformObjectToHClip(input.positionOS);
                output.visibility = input.uvVis.z;
                return output;
            }

            half Frag(Varyings input) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(input);
                Ex4dFade(input.visibility, _OccludedMode, _FadeSoftness, input.positionCS.xy);
                return input.positionCS.z;
            }
            ENDHLSL
        }
    }

    SubShader
    {
        Tags { "RenderType" = "Opaque" "Queue" = "Geometry" }

        Pass
        {
            Cull [_Cull]
            ZWrite On

            CGPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #pragma multi_compile_instancing
            #include "UnityCG.cginc"
            #include "Ex4dCommon.hlsl"

            sampler2D _MainTex;
            float _ColorTopRowFirst;
            float _OccludedMode;
            float _FadeSoftness;

            struct appdata
            {
                float4 vertex : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct v2f
            {
                float4 pos : SV_POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            v2f vert(appdata v)
            {
                v2f o;
                UNITY_SETUP_INSTANCE_ID(v);
                UNITY_INITIALIZE_OUTPUT(v2f, o);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(o);
                o.pos = UnityObjectToClipPos(v.vertex);
                o.uvVis = v.uvVis;
                return o;
            }

            fixed4 frag(v2f i) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(i);
                Ex4dFade(i.uvVis.z, _OccludedMode, _FadeSoftness, i.pos.xy);
                float2 uv = Ex4dColorUv(i.uvVis, _ColorTopRowFirst);
                return fixed4(tex2D(_MainTex, uv).rgb, 1.0);
            }
            ENDCG
        }
    }

    Fallback Off
}
